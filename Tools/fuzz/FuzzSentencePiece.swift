import Foundation
@testable import MoEFormats
@testable import MoETokenizer

// Target `sentencepiece`: a SentencePiece tokenizer.model (protobuf, read by ProtobufReader and
// SentencePieceModelFile) → TokenizerSpec → Tokenizer, then the tokenizer encodes and decodes a fixed text.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSentencePiece(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = fuzzBytes(data, size)
    // The parser alone, from memory, so ASan sees reads past the end exactly.
    do { _ = try SentencePieceModelFile(bytes: Array(bytes), path: "fuzz.model") } catch {
        expectTypedError(error, path: "fuzz.model")
    }
    let path = writeScratch("tokenizer.model", bytes)
    do {
        let tokenizer = try Tokenizer(spec: TokenizerSpec(sentencePieceModel: path))
        exercise(tokenizer)
    } catch {
        expectTypedError(error, path: path, other: tokenizerErrorText)
    }
    return 0
}
