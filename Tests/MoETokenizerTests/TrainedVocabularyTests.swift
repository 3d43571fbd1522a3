import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// Pre-tokenizers of models whose vocabularies llama.cpp's suite lacks (DeepSeek-V3, GLM-4.5, gpt-oss, Kimi-K2):
/// small vocabularies trained with Hugging Face `tokenizers` under each model's pre-tokenizer, as tokenizer.json
/// and as GGUF with that `tokenizer.ggml.pre`, and the ids `tokenizers` gives (Fixtures/pretok-*, made by
/// Tools/scripts/make-tokenizer-fixtures.py). Both files must give exactly those ids.
struct TrainedVocabularyTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static let names = ["deepseek-v3", "glm4", "gpt-4o", "kimi-k2"]

    struct Expected: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
        }
        let pre: String
        /// Per valid.txt document: the id count and the FNV-1a hash of the ids (see the script).
        let documents: [[String]]?
        let suite: [Case]
        /// Per valid.txt document, then per suite text: the count and hash of its pieces' UTF-8 lengths.
        let pieces: [[String]]?

        enum CodingKeys: String, CodingKey { case pre, documents, suite, pieces }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            pre = try c.decode(String.self, forKey: .pre)
            suite = try c.decode([Case].self, forKey: .suite)
            documents = try Self.pairs(c, .documents)
            pieces = try Self.pairs(c, .pieces)
        }

        /// [count, "hash"] pairs: mixed types, read as strings.
        private static func pairs(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [[String]]? {
            guard c.contains(key) else { return nil }
            var list = try c.nestedUnkeyedContainer(forKey: key)
            var pairs: [[String]] = []
            while !list.isAtEnd {
                var pair = try list.nestedUnkeyedContainer()
                pairs.append([String(try pair.decode(Int.self)), try pair.decode(String.self)])
            }
            return pairs
        }
    }

    static func load(_ name: String) throws -> (json: Tokenizer, gguf: Tokenizer, jsonSpec: TokenizerSpec, ggufSpec: TokenizerSpec, expected: Expected) {
        let base = "\(fixtures)/pretok-\(name)"
        let jsonSpec = try TokenizerSpec(tokenizerJSON: base + ".tokenizer.json")
        let ggufSpec = try TokenizerSpec(gguf: GGUFFile(path: base + ".gguf"))
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: base + ".expected.json")))
        return (try Tokenizer(spec: jsonSpec), try Tokenizer(spec: ggufSpec), jsonSpec, ggufSpec, expected)
    }

    /// FNV-1a (64-bit) over the ids as little-endian uint32, as the script computes it.
    static func fnv1a(_ ids: [Int]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for id in ids {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: id).littleEndian) { bytes in
                for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The regex texts may be spelled differently (a literal line feed or `\n`); the ids below show they agree.
    @Test("the model's tokenizer.json and llama.cpp's name for it have the same number of steps", arguments: names)
    func sameSteps(name: String) throws {
        let loaded = try Self.load(name)
        #expect(loaded.expected.pre == name)
        #expect(loaded.jsonSpec.preTokenizer.steps.count == loaded.ggufSpec.preTokenizer.steps.count)
        #expect(loaded.jsonSpec.preTokenizer.normalizers.isEmpty && loaded.ggufSpec.preTokenizer.normalizers.isEmpty)
    }

    @Test("pieces equal tokenizers' on every valid.txt document and suite text", .enabled(if: ReferenceData.isAvailable, ReferenceData.unavailableMessage),
          arguments: names)
    func pieces(name: String) throws {
        let loaded = try Self.load(name)
        let texts = try ReferenceData.loadDocuments() + loaded.expected.suite.map(\.text)
        let expected = try #require(loaded.expected.pieces)
        #expect(texts.count == expected.count)
        for (source, tokenizer) in [("tokenizer.json", loaded.json), ("GGUF", loaded.gguf)] {
            var failures = 0
            for (index, (text, want)) in zip(texts, expected).enumerated() {
                let lengths = tokenizer.preTokenize(text).map(\.utf8.count)
                if [String(lengths.count), Self.fnv1a(lengths)] != want {
                    failures += 1
                    if failures <= 3 { Issue.record("[\(name) \(source)] text \(index): \(lengths.count) pieces, expected \(want[0]) (or hashes differ)") }
                }
            }
            #expect(failures == 0, "[\(name) \(source)] \(failures) of \(texts.count) texts are cut differently")
        }
    }

    @Test("ids equal tokenizers' on the suite's texts", arguments: names)
    func suiteTexts(name: String) throws {
        let loaded = try Self.load(name)
        for (source, tokenizer) in [("tokenizer.json", loaded.json), ("GGUF", loaded.gguf)] {
            var failures = 0
            for (index, test) in loaded.expected.suite.enumerated() {
                let ids = tokenizer.encode(test.text, parseSpecial: false)
                if ids != test.ids {
                    failures += 1
                    if failures <= 3 { Issue.record("[\(name) \(source)] text \(index) \(test.text.debugDescription): got \(ids), expected \(test.ids)") }
                }
            }
            #expect(failures == 0, "[\(name) \(source)] \(failures) of \(loaded.expected.suite.count) texts differ")
        }
    }

    @Test("ids equal tokenizers' on every valid.txt document", .enabled(if: ReferenceData.isAvailable, ReferenceData.unavailableMessage),
          arguments: names)
    func validDocuments(name: String) throws {
        let loaded = try Self.load(name)
        let documents = try ReferenceData.loadDocuments()
        let expected = try #require(loaded.expected.documents)
        #expect(documents.count == expected.count)
        for (source, tokenizer) in [("tokenizer.json", loaded.json), ("GGUF", loaded.gguf)] {
            var failures = 0
            for (index, (document, want)) in zip(documents, expected).enumerated() {
                let ids = tokenizer.encode(document, parseSpecial: false)
                if [String(ids.count), Self.fnv1a(ids)] != want {
                    failures += 1
                    if failures <= 3 { Issue.record("[\(name) \(source)] document \(index): \(ids.count) ids, expected \(want[0]) (hashes differ)") }
                }
            }
            #expect(failures == 0, "[\(name) \(source)] \(failures) of \(documents.count) documents differ")
        }
    }
}

/// The tokenizer.json forms the model fixtures do not use: every split behaviour and inversion, Digits,
/// Punctuation, WhitespaceSplit, Whitespace, ByteLevel with its regex and prefix space, normalizers (NFKC, NFD,
/// Replace, Strip, Lowercase, Prepend) and added tokens with lstrip, rstrip, single_word and normalized
/// (Fixtures/hf-*, made by the same script). Ids must equal `tokenizers`' on the suite's texts, texts aimed at
/// the options, and the first valid.txt documents.
struct HuggingFaceFormsTests {
    static let names = ["removed-invert", "merged-previous", "merged-next", "digits-punctuation", "digits-grouped",
                        "normalizers", "added-tokens"]

    @Test("ids equal tokenizers'", arguments: names)
    func forms(name: String) throws {
        let base = "\(TrainedVocabularyTests.fixtures)/hf-\(name)"
        let tokenizer = try Tokenizer(spec: TokenizerSpec(tokenizerJSON: base + ".tokenizer.json"))
        let expected = try JSONDecoder().decode(TrainedVocabularyTests.Expected.self,
                                                from: Data(contentsOf: URL(fileURLWithPath: base + ".expected.json")))
        var failures = 0
        for (index, test) in expected.suite.enumerated() {
            // tokenizers parses special tokens by default; the script's encode did too.
            let ids = tokenizer.encode(test.text)
            if ids != test.ids {
                failures += 1
                if failures <= 3 { Issue.record("[\(name)] text \(index) \(test.text.debugDescription): got \(ids), expected \(test.ids)") }
            }
        }
        #expect(failures == 0, "[\(name)] \(failures) of \(expected.suite.count) texts differ")
        guard ReferenceData.isAvailable, let documents = expected.documents else { return }
        for (index, (document, want)) in zip(try ReferenceData.loadDocuments(), documents).enumerated() {
            let ids = tokenizer.encode(document)
            #expect([String(ids.count), TrainedVocabularyTests.fnv1a(ids)] == want, "[\(name)] document \(index)")
        }
    }
}
