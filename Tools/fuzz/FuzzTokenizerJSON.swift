import Foundation
@testable import MoEFormats
@testable import MoETokenizer

// Target `tokenizer-json`: a Hugging Face tokenizer.json (byte-level BPE or SentencePiece-style) → Tokenizer,
// then the tokenizer encodes and decodes a fixed text. The input is written to a scratch folder with no
// tokenizer_config.json beside it.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = writeScratch("tokenizer.json", fuzzBytes(data, size))
    do {
        let tokenizer = try Tokenizer(spec: TokenizerSpec(tokenizerJSON: path))
        exercise(tokenizer)
    } catch {
        expectTypedError(error, path: path, other: tokenizerErrorText)
    }
    return 0
}
