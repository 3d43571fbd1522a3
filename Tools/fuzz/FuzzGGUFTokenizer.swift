import Foundation
@testable import MoEFormats
@testable import MoETokenizer

// Target `gguf-tokenizer`: GGUF `tokenizer.ggml.*` metadata → TokenizerSpec → Tokenizer (byte-level BPE,
// SentencePiece, raw-UTF-8 BPE), then the tokenizer encodes and decodes a fixed text.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUFTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = "fuzz-vocab.gguf"
    let file = MappedFile(copying: fuzzBytes(data, size), path: path)
    do {
        let gguf = try GGUFFile(file: file)
        let tokenizer = try Tokenizer(spec: TokenizerSpec(gguf: gguf))
        exercise(tokenizer)
    } catch {
        expectTypedError(error, path: path, other: tokenizerErrorText)
    }
    return 0
}
