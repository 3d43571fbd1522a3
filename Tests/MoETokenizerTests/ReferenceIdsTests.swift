import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// Ids must equal those of the Hugging Face tokenizer that produced the reference files, token for token.
@Suite(.enabled(if: ReferenceData.isAvailable, ReferenceData.unavailableMessage))
struct ReferenceIdsTests {
    @Test("valid.txt encodes to valid-ids.bin", arguments: SpecSource.allCases)
    func validTextMatchesReference(source: SpecSource) throws {
        let tokenizer = try source.loadTokenizer()
        let documents = try ReferenceData.loadDocuments()
        let expected = try ReferenceData.loadValidIds()
        let eos = try #require(tokenizer.eosTokenId)

        let clock = ContinuousClock()
        var ids: [Int] = []
        let elapsed = clock.measure {
            for document in documents {
                ids += tokenizer.encode(document)
                ids.append(eos)
            }
        }
        print("[\(source.rawValue)] encoded \(documents.count) documents, \(ids.count) tokens in \(elapsed)")

        #expect(ids.count == expected.count)
        if let mismatch = ids.indices.first(where: { $0 >= expected.count || ids[$0] != expected[$0] }) {
            let window = max(0, mismatch - 5) ..< min(mismatch + 5, ids.count, expected.count)
            Issue.record("first mismatch at token \(mismatch): got \(Array(ids[window])), expected \(Array(expected[window]))")
        }
    }

    @Test("golden.json prompt ids", arguments: SpecSource.allCases)
    func goldenPrompts(source: SpecSource) throws {
        let tokenizer = try source.loadTokenizer()
        let prompts = try ReferenceData.loadPrompts()
        #expect(prompts.count == 8)
        for prompt in prompts {
            #expect(tokenizer.encode(prompt.text) == prompt.ids, "prompt \(prompt.text.debugDescription)")
            #expect(tokenizer.encodePrompt(prompt.text) == prompt.ids, "no BOS for this model")
        }
    }

    @Test("decode inverts encode on every document", arguments: SpecSource.allCases)
    func roundTrip(source: SpecSource) throws {
        let tokenizer = try source.loadTokenizer()
        for document in try ReferenceData.loadDocuments() {
            let decoded = tokenizer.decode(tokenizer.encode(document))
            // Compare scalars: String == would accept a canonically equivalent but different text.
            #expect(Array(decoded.unicodeScalars) == Array(document.unicodeScalars))
        }
    }

    @Test("<|endoftext|> inside text is the eos id, and decodes back", arguments: SpecSource.allCases)
    func endOfTextInsideText(source: SpecSource) throws {
        let tokenizer = try source.loadTokenizer()
        let eos = try #require(tokenizer.eosTokenId)
        #expect(tokenizer.tokenString(eos) == "<|endoftext|>")
        #expect(tokenizer.isSpecial(eos))
        let before = "The end.", after = "\nA new beginning"
        let ids = tokenizer.encode(before + "<|endoftext|>" + after)
        #expect(ids == tokenizer.encode(before) + [eos] + tokenizer.encode(after))
        #expect(tokenizer.decode(ids) == before + "<|endoftext|>" + after)
        #expect(tokenizer.encode("<|endoftext|><|endoftext|>") == [eos, eos])
    }

    @Test("both files give the same spec")
    func specsAgree() throws {
        let json = try SpecSource.tokenizerJSON.loadSpec()
        let gguf = try SpecSource.gguf.loadSpec()
        #expect(json.tokens == gguf.tokens)
        #expect(json.merges.map { [$0.0, $0.1] } == gguf.merges.map { [$0.0, $0.1] })
        #expect(json.preTokenizer.steps == gguf.preTokenizer.steps)
        #expect(json.preTokenizer.normalizers.isEmpty && gguf.preTokenizer.normalizers.isEmpty)
        #expect(json.addedTokens.map(\.id) == gguf.addedTokens.map(\.id))
        #expect(json.addedTokens.map(\.content) == gguf.addedTokens.map(\.content))
        #expect(json.eosTokenId == gguf.eosTokenId)
        #expect(json.addBosToken == false && gguf.addBosToken == false)
    }
}
