import Foundation
@testable import MoEFormats
@testable import MoETokenizer

// Target `encode`: arbitrary bytes (not necessarily UTF-8) through `Tokenizer.encode(bytes:parseSpecial:)` of
// real tokenizers loaded once: GGUF byte-level BPE, tokenizer.json with normalizers and added tokens, GGUF
// SentencePiece, GGUF raw-UTF-8 BPE (gemma-4). Checked beyond "no crash": ids lie in the vocabulary, and for
// the tokenizers whose decoding gives the text back (byte-level BPE with every byte in its vocabulary;
// gemma-4, spaces spelled ▁), decoding the ids of unparsed text gives the bytes back, invalid UTF-8 read as
// U+FFFD per byte (LossyUTF8).
//
// Files: $MOE_FUZZ_REPO (the repository root; Tools/scripts/fuzz.sh sets it) and $MOE_LLAMACPP_MODELS
// (llama.cpp's models folder with ggml-vocab-*.gguf); a missing file is skipped with a note on stderr.

struct LoadedTokenizer {
    let name: String
    let tokenizer: Tokenizer
    /// The bytes decoding must give back for input `bytes` (special tokens not parsed), or nil if unchecked.
    let roundTrip: (([UInt8]) -> [UInt8])?
}

/// Raw input as the byte-level tokenizers read it: invalid UTF-8 one U+FFFD per byte.
func lossy(_ bytes: [UInt8]) -> [UInt8] { Array(LossyUTF8.string(bytes).utf8) }

/// gemma-4 decodes every ▁ as a space, the ones the text had included.
func lossySpaced(_ bytes: [UInt8]) -> [UInt8] {
    Array(LossyUTF8.string(bytes).replacingOccurrences(of: "\u{2581}", with: " ").utf8)
}

let fuzzTokenizers: [LoadedTokenizer] = {
    let env = ProcessInfo.processInfo.environment
    let repo = env["MOE_FUZZ_REPO"] ?? FileManager.default.currentDirectoryPath
    let fixtures = repo + "/Tests/MoETokenizerTests/Fixtures"
    let models = env["MOE_LLAMACPP_MODELS"] ?? ""
    let candidates: [(name: String, path: String, roundTrip: (([UInt8]) -> [UInt8])?)] = [
        ("pretok-gpt-4o.gguf", fixtures + "/pretok-gpt-4o.gguf", lossy),
        ("hf-normalizers.tokenizer.json", fixtures + "/hf-normalizers.tokenizer.json", nil),
        ("hf-added-tokens.tokenizer.json", fixtures + "/hf-added-tokens.tokenizer.json", nil),
        ("ggml-vocab-llama-spm.gguf", models + "/ggml-vocab-llama-spm.gguf", nil),
        ("ggml-vocab-gemma-4.gguf", models + "/ggml-vocab-gemma-4.gguf", lossySpaced),
    ]
    var loaded: [LoadedTokenizer] = []
    for c in candidates {
        guard FileManager.default.fileExists(atPath: c.path) else {
            FileHandle.standardError.write(Data("encode target: \(c.path) not found, skipped\n".utf8))
            continue
        }
        do {
            let spec = c.path.hasSuffix(".gguf") ? try TokenizerSpec(gguf: GGUFFile(path: c.path)) : try TokenizerSpec(tokenizerJSON: c.path)
            loaded.append(LoadedTokenizer(name: c.name, tokenizer: try Tokenizer(spec: spec), roundTrip: c.roundTrip))
        } catch {
            fatalError("encode target: \(c.path) does not load: \(error)")
        }
    }
    FileHandle.standardError.write(Data("encode target: \(loaded.count) tokenizers: \(loaded.map(\.name).joined(separator: ", "))\n".utf8))
    return loaded
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEncode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Array(fuzzBytes(data, size))
    for t in fuzzTokenizers {
        for parseSpecial in [false, true] {
            let ids = t.tokenizer.encode(bytes: bytes, parseSpecial: parseSpecial)
            for id in ids where !(0 ..< t.tokenizer.vocabularySize).contains(id) {
                fatalError("\(t.name): id \(id) outside the vocabulary of \(t.tokenizer.vocabularySize)")
            }
            let decoded = t.tokenizer.decodeBytes(ids)
            if !parseSpecial, let expected = t.roundTrip?(bytes), decoded != expected {
                fatalError("\(t.name): decoding \(ids) gives \(decoded), not the input's \(expected)")
            }
            _ = t.tokenizer.decode(ids)
        }
    }
    return 0
}
