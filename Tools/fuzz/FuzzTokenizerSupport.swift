import Foundation
@testable import MoEFormats
@testable import MoETokenizer

// Shared by the tokenizer targets (compiled with FuzzSupport.swift into each of them).

/// TokenizerError's one line, for `expectTypedError`.
func tokenizerErrorText(_ error: Error) -> String? {
    (error as? TokenizerError)?.description
}

/// What every loaded tokenizer must survive: encoding the sample text with and without special tokens, ids
/// inside the vocabulary, and decoding them back.
func exercise(_ tokenizer: Tokenizer) {
    for parseSpecial in [false, true] {
        let ids = tokenizer.encode(fuzzSampleText, parseSpecial: parseSpecial)
        for id in ids where !(0 ..< tokenizer.vocabularySize).contains(id) {
            fatalError("id \(id) outside the vocabulary of \(tokenizer.vocabularySize)")
        }
        _ = tokenizer.decode(ids)
        for id in ids.prefix(8) { _ = tokenizer.displayPiece(id) }
    }
    _ = tokenizer.encodePrompt("x")
}
