import Foundation
@testable import MoEFormats

// Shared by the libFuzzer entry points in this folder (Tools/scripts/fuzz.sh compiles it into every target).
// A target returns normally for input that loads and for input refused with a typed error whose message is
// one short line; anything else — a trap, an AddressSanitizer report, an untyped error, a message over
// several lines — stops the fuzzer and leaves the input in a crash file.

/// Bytes → Array without a second copy per call site.
func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: data, count: size)
}

/// Aborts unless `error` is one of the errors a bad file may cause, described in one line that is not
/// absurdly long. `path` is the file a FormatError must name; `other` describes the target's other typed
/// errors (TokenizerError), nil for anything else.
func expectTypedError(_ error: Error, path: String?, other: (Error) -> String? = { _ in nil }) {
    let text: String
    if let e = error as? FormatError {
        text = e.description
        if let path, !text.hasPrefix(path + ": ") { fatalError("FormatError does not name \(path): \(text)") }
    } else if let described = other(error) {
        text = described
    } else {
        fatalError("untyped error \(type(of: error)): \(error)")
    }
    guard !text.contains("\n"), !text.contains("\r") else { fatalError("error message of several lines: \(text.debugDescription)") }
    guard text.count < 600 else { fatalError("error message of \(text.count) characters: \(text.prefix(200))…") }
}

/// A folder of this process's own, in memory where /dev/shm exists: the targets that read files by path
/// (tokenizer.json, tokenizer.model, config.json) write each input there.
let fuzzScratch: String = {
    let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/moe-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Writes `bytes` as `name` in the scratch folder and returns its path.
func writeScratch(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let path = fuzzScratch + "/" + name
    // Removed first: a read-only mapping of the previous input must never see this one's bytes.
    unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { fatalError("cannot write \(path)") }
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        guard n > 0 else { fatalError("cannot write \(path)") }
        done += n
    }
    close(fd)
    return path
}

/// Text every loaded tokenizer encodes: spaces, newlines, digits, punctuation, non-ASCII, a special token.
let fuzzSampleText = "Hello world! 12345 <|endoftext|> <s> Grüße, 東京\n\n  tabs\there ▁x 🙂"
