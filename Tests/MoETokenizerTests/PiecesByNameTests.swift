import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// The regex engine against Hugging Face's (Oniguruma): for one name of every family in PreTokenizerTable, the
/// pieces ICU cuts valid.txt's documents and the suite's texts into must be `tokenizers`' pieces for the regexes
/// llama.cpp's source gives that name (Fixtures/pieces-by-name.json, Tools/scripts/make-pretokenizer-pieces.py:
/// count and FNV-1a hash of the pieces' UTF-8 lengths, a 0 after each text).
@Suite(.enabled(if: ReferenceData.isAvailable, ReferenceData.unavailableMessage))
struct PiecesByNameTests {
    static let expected: [String: [String]] = {
        let path = TrainedVocabularyTests.fixtures + "/pieces-by-name.json"
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: [Any]] else { return [:] }
        return object.mapValues { $0.map { "\($0)" } }
    }()

    static let texts: [String] = {
        // The suite's texts travel with the trained fixtures, so this test does not need llama.cpp's source.
        let suite = (try? JSONDecoder().decode(TrainedVocabularyTests.Expected.self, from: Data(contentsOf: URL(
            fileURLWithPath: TrainedVocabularyTests.fixtures + "/pretok-glm4.expected.json"))))?.suite.map(\.text) ?? []
        return ((try? ReferenceData.loadDocuments()) ?? []) + suite
    }()

    @Test("every family's pieces equal tokenizers'", arguments: expected.keys.sorted())
    func family(name: String) throws {
        let rule = try #require(PreTokenizerTable.rule(named: name), "\(name) is missing from the table")
        let spec = TokenizerSpec(tokens: ["a"], merges: [], addedTokens: [], preTokenizer: rule.spec,
                                 eosTokenId: nil, bosTokenId: nil, addBosToken: false)
        let tokenizer = try Tokenizer(spec: spec)
        var lengths: [Int] = []
        for text in Self.texts { lengths += tokenizer.preTokenize(text).map(\.utf8.count) + [0] }
        #expect([String(lengths.count), TrainedVocabularyTests.fnv1a(lengths)] == Self.expected[name],
                "\(name): \(lengths.count) pieces and separators, expected \(Self.expected[name]?.first ?? "?")")
    }
}

/// The table itself: every name's regexes compile and cut a text into pieces that cover it exactly.
struct PreTokenizerTableTests {
    @Test("every name's rule compiles and covers the text", arguments: PreTokenizerTable.names)
    func compiles(name: String) throws {
        let rule = try #require(PreTokenizerTable.rule(named: name))
        let tokenizer = try Tokenizer(spec: TokenizerSpec(tokens: ["a"], merges: [], addedTokens: [], preTokenizer: rule.spec,
                                                          eosTokenId: nil, bosTokenId: nil, addBosToken: false))
        let text = "Hello, World! It's 1234567 — 世界 カタカナ 한국어\n\n  tabs\tand  spaces  😶‍🌫️ <sentinel:12> IMGIMGABZ"
        #expect(tokenizer.preTokenize(text).joined() == text, "\(name) loses or adds text")
    }

    @Test("names are unique, and the GGUF name for a rule is one of its names")
    func names() {
        #expect(Set(PreTokenizerTable.names).count == PreTokenizerTable.names.count)
        for name in PreTokenizerTable.names {
            guard let rule = PreTokenizerTable.rule(named: name), let back = PreTokenizerTable.name(for: rule.spec) else { continue }
            #expect(PreTokenizerTable.rule(named: back)?.spec == rule.spec, "\(name) → \(back)")
        }
    }
}
