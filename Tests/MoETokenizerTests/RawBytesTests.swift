import Foundation
import MoETokenizer
import Testing

/// `Tokenizer.encode(bytes:)` on bytes that are not UTF-8 (`moe tokenize --file`), byte-level side: each byte
/// that starts no complete sequence reads as one U+FFFD, as llama.cpp's `unicode_cpts_from_utf8` does (Swift's
/// own decoding would give one U+FFFD per maximal invalid run instead).
@Suite(.enabled(if: ReferenceData.isAvailable, ReferenceData.unavailableMessage))
struct RawBytesTests {
    @Test("invalid UTF-8 in a byte-level tokenizer: one U+FFFD per stray byte", arguments: SpecSource.allCases)
    func byteLevel(source: SpecSource) throws {
        let t = try source.loadTokenizer()
        let r = "\u{FFFD}"
        #expect(t.encode(bytes: Array("plain text".utf8)) == t.encode("plain text"))
        // E2 96 is a 3-byte sequence cut short: two replacement characters, not one.
        #expect(t.encode(bytes: [0x61, 0xE2, 0x96]) == t.encode("a" + r + r))
        #expect(t.encode(bytes: [0xFF, 0x41, 0xC3, 0xA9, 0x80]) == t.encode(r + "A\u{E9}" + r))
        #expect(t.encode(bytes: Array("x<|endoftext|>".utf8), parseSpecial: false) == t.encode("x<|endoftext|>", parseSpecial: false))
        #expect(t.encode("x<|endoftext|>", parseSpecial: false).count > 2)
    }
}
