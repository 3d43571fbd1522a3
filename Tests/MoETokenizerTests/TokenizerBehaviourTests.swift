import Foundation
import MoEFormats
import MoETokenizer
import Testing

struct TokenizerBehaviourTests {

    @Test func inconsistentSpecsAreRejected() throws {
        let base = TokenizerSpec(tokens: ["a", "b", "ab"], merges: [("a", "b")], addedTokens: [],
                                 preTokenizer: PreTokenizerSpec(regexes: [TokenizerSpec.gpt2Pattern]), eosTokenId: nil, bosTokenId: nil, addBosToken: false)
        var unknownToken = base
        unknownToken.merges = [("a", "c")]
        #expect(throws: TokenizerError.mergeOfUnknownToken(rank: 0, token: "c")) { try Tokenizer(spec: unknownToken) }
        var missingResult = base
        missingResult.merges = [("b", "a")]
        #expect(throws: TokenizerError.mergeResultNotInVocabulary(rank: 0, left: "b", right: "a")) { try Tokenizer(spec: missingResult) }
        var badEos = base
        badEos.eosTokenId = 3
        #expect(throws: TokenizerError.self) { try Tokenizer(spec: badEos) }
        var badPattern = base
        badPattern.preTokenizer = PreTokenizerSpec(regexes: ["(unclosed"])
        #expect(throws: TokenizerError.self) { try Tokenizer(spec: badPattern) }
    }
}

@Suite(.enabled(if: ReferenceData.isAvailable, ReferenceData.unavailableMessage))
struct ReferenceTokenizerBehaviourTests {
    @Test func unknownIdsDecodeToNothing() throws {
        let tokenizer = try SpecSource.tokenizerJSON.loadTokenizer()
        let hello = tokenizer.encode("hello")
        #expect(tokenizer.decode([-1] + hello + [tokenizer.vocabularySize, Int.max, Int.min]) == "hello")
        #expect(tokenizer.tokenString(-1) == nil && tokenizer.tokenString(tokenizer.vocabularySize) == nil)
        #expect(tokenizer.decodeBytes([]) == [])
    }

    @Test("streaming decode never splits a UTF-8 sequence")
    func streamingDecode() throws {
        let tokenizer = try SpecSource.gguf.loadTokenizer()
        // Characters outside the tiny model's merges are spelled byte by byte, so tokens end mid-sequence.
        let text = "Größe: 42 €, naïve café — 世界 👍🏽 done"
        let ids = tokenizer.encode(text)
        #expect(ids.contains { String(decoding: tokenizer.decodeBytes([$0]), as: UTF8.self).contains("\u{FFFD}") },
                "the text should contain a token that is not valid UTF-8 alone")
        var stream = UTF8StreamDecoder()
        var pieces: [String] = []
        for id in ids { pieces.append(stream.decode(tokenizer.decodeBytes([id]))) }
        pieces.append(stream.finish())
        #expect(pieces.allSatisfy { !$0.contains("\u{FFFD}") })
        #expect(pieces.joined() == text)
    }

    @Test("a cut-off sequence at the end of a stream becomes U+FFFD")
    func streamingFinishFlushes() {
        var stream = UTF8StreamDecoder()
        let euro = Array("€".utf8)
        #expect(stream.decode(Array(euro.prefix(2))) == "")
        #expect(stream.finish() == "\u{FFFD}")
        #expect(stream.decode(euro) == "€")
    }

    @Test("concurrent encoding gives the same ids as serial encoding")
    func concurrentEncoding() async throws {
        let tokenizer = try SpecSource.tokenizerJSON.loadTokenizer()
        let documents = Array(try ReferenceData.loadDocuments().prefix(64))
        let serial = documents.map { tokenizer.encode($0) }
        let parallel = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (index, document) in documents.enumerated() {
                group.addTask { (index, tokenizer.encode(document)) }
            }
            var results = [[Int]](repeating: [], count: documents.count)
            for await (index, ids) in group { results[index] = ids }
            return results
        }
        #expect(parallel == serial)
    }
}
