import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// Bad input must surface as the FormatError that names the problem, never a crash.
struct LoadErrorTests {
    /// A minimal well-formed byte-level BPE tokenizer.json, for the tests to break one part at a time.
    static func tokenizerJSON(model: [String: Any]? = nil, preTokenizer: Any? = nil) -> [String: Any] {
        [
            "added_tokens": [["id": 3, "content": "<|end|>", "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer ?? ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "model": model ?? ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2, "<|end|>": 3], "merges": ["a b"]],
        ]
    }

    @Test func missingFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/tokenizer.json"
        #expect(throws: FormatError.missingFile(path: path)) { try TokenizerSpec(tokenizerJSON: path) }
    }

    @Test func malformedJSON() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("tokenizer.json", Data(#"{"model": {"type": "BPE", "vocab": {"#.utf8))
        let error = #expect(throws: FormatError.self) { try TokenizerSpec(tokenizerJSON: path) }
        guard case let .badJSON(errorPath, _) = error else { Issue.record("expected badJSON, got \(String(describing: error))"); return }
        #expect(errorPath == path)
    }

    @Test func unsupportedModelType() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.writeJSON("tokenizer.json", Self.tokenizerJSON(model: ["type": "WordPiece", "vocab": ["a": 0]]))
        let error = #expect(throws: FormatError.self) { try TokenizerSpec(tokenizerJSON: path) }
        guard case let .malformed(errorPath, what) = error else { Issue.record("expected malformed, got \(String(describing: error))"); return }
        #expect(errorPath == path)
        #expect(what.contains("WordPiece"))
    }

    @Test func nonByteLevelPreTokenizerIsRefused() throws {
        // (Metaspace is no longer refused: it makes a SentencePiece-style tokenizer, SentencePieceBehaviourTests.)
        let directory = try TemporaryDirectory()
        let whitespace: [String: Any] = ["type": "Whitespace"]
        let path = try directory.writeJSON("tokenizer.json", Self.tokenizerJSON(preTokenizer: whitespace))
        let error = #expect(throws: FormatError.self) { try TokenizerSpec(tokenizerJSON: path) }
        guard case .malformed = error else { Issue.record("expected malformed, got \(String(describing: error))"); return }
    }

    @Test func badMergeEntry() throws {
        let directory = try TemporaryDirectory()
        let model: [String: Any] = ["type": "BPE", "vocab": ["a": 0, "b": 1], "merges": ["a b c"]]
        let path = try directory.writeJSON("tokenizer.json", Self.tokenizerJSON(model: model))
        let error = #expect(throws: FormatError.self) { try TokenizerSpec(tokenizerJSON: path) }
        guard case .malformed = error else { Issue.record("expected malformed, got \(String(describing: error))"); return }
    }

    @Test("a bare ByteLevel pre-tokenizer means GPT-2's regex; merges may be strings or pairs")
    func minimalTokenizerLoads() throws {
        let directory = try TemporaryDirectory()
        let asStrings = try TokenizerSpec(tokenizerJSON: directory.writeJSON("strings.json", Self.tokenizerJSON()))
        let pairsModel: [String: Any] = ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2, "<|end|>": 3], "merges": [["a", "b"]]]
        let asPairs = try TokenizerSpec(tokenizerJSON: directory.writeJSON("pairs.json", Self.tokenizerJSON(model: pairsModel)))
        for spec in [asStrings, asPairs] {
            #expect(spec.preTokenizer == PreTokenizerSpec(regexes: [TokenizerSpec.gpt2Pattern]))
            #expect(spec.tokens == ["a", "b", "ab", "<|end|>"])
            #expect(spec.merges.count == 1 && spec.merges[0] == ("a", "b"))
            #expect(spec.addedTokens.count == 1 && spec.addedTokens[0].id == 3 && spec.addedTokens[0].special)
            #expect(spec.eosTokenId == nil, "no tokenizer_config.json beside it")
        }
        let tokenizer = try Tokenizer(spec: asStrings)
        #expect(tokenizer.encode("ab<|end|>ba") == [2, 3, 1, 0])
    }

    @Test func ggufWithoutByteLevelBPE() throws {
        let directory = try TemporaryDirectory()
        let noTokenizer = try directory.write("none.gguf", ggufBytes([("general.architecture", .string("qwen3moe"))]))
        let sentencePiece = try directory.write("spm.gguf", ggufBytes([
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.tokens", .array(.string, [.string("<unk>")])),
        ]))
        for path in [noTokenizer, sentencePiece] {
            let error = #expect(throws: FormatError.self) { try TokenizerSpec(gguf: GGUFFile(path: path)) }
            guard case let .malformed(errorPath, _) = error else { Issue.record("expected malformed, got \(String(describing: error))"); continue }
            #expect(errorPath == path)
        }
    }

    @Test func ggufPreTokenizers() throws {
        let directory = try TemporaryDirectory()
        func spec(pre: String?) throws -> TokenizerSpec {
            var metadata: [(String, GGUFValue)] = [
                ("tokenizer.ggml.model", .string("gpt2")),
                ("tokenizer.ggml.tokens", .array(.string, ["a", "b", "ab", "<s>"].map { .string($0) })),
                ("tokenizer.ggml.merges", .array(.string, [.string("a b")])),
                ("tokenizer.ggml.token_type", .array(.int32, [.int32(1), .int32(1), .int32(1), .int32(3)])),
                ("tokenizer.ggml.bos_token_id", .uint32(3)),
            ]
            if let pre { metadata.append(("tokenizer.ggml.pre", .string(pre))) }
            return try TokenizerSpec(gguf: GGUFFile(path: directory.write("\(pre ?? "none").gguf", ggufBytes(metadata))))
        }
        for (name, family) in [("qwen2", "megrez"), ("olmo", "gpt-2"), ("deepseek-v3", "hunyuan-dense"), ("glm4", "chatglm-bpe")] {
            #expect(try spec(pre: name).preTokenizer == PreTokenizerTable.rule(named: family)?.spec, "\(name) and \(family) are one rule")
        }
        #expect(try spec(pre: nil).preTokenizer == PreTokenizerTable.rule(named: "default")?.spec, "no name is llama.cpp's default")
        #expect(try spec(pre: "deepseek-llm").preTokenizer.steps.count == 6)
        let llama = try spec(pre: "llama-bpe")
        #expect(llama.addBosToken && llama.bosTokenId == 3, "llama.cpp adds BOS for Llama 3 unless the file says otherwise")
        #expect(llama.ignoreMerges)
        #expect(try spec(pre: "glm4").bosTokenId == nil, "llama.cpp has no BOS for GLM")
        #expect(try spec(pre: "qwen2").addedTokens.map(\.id) == [3])
        let error = #expect(throws: FormatError.self) { try spec(pre: "no-such-tokenizer") }
        guard case let .malformed(_, what) = error else { Issue.record("expected malformed, got \(String(describing: error))"); return }
        #expect(what.contains("'no-such-tokenizer'"))
    }
}

/// Bad pre-tokenizer and normalizer sections: one error that names the part.
struct PreTokenizerLoadErrorTests {
    static func write(preTokenizer: Any? = nil, normalizer: Any? = nil) throws -> (TemporaryDirectory, String) {
        let directory = try TemporaryDirectory()
        var json = LoadErrorTests.tokenizerJSON(preTokenizer: preTokenizer)
        if let normalizer { json["normalizer"] = normalizer }
        return (directory, try directory.writeJSON("tokenizer.json", json))
    }

    static func malformed(_ path: String) -> String? {
        do {
            _ = try TokenizerSpec(tokenizerJSON: path)
        } catch let FormatError.malformed(errorPath, what) where errorPath == path {
            return what
        } catch {
            Issue.record("expected malformed, got \(error)")
        }
        return nil
    }

    @Test("an unknown pre-tokenizer, normalizer or split behaviour is named")
    func unknownParts() throws {
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false]
        let cases: [(pre: Any?, normalizer: Any?, named: String)] = [
            (["type": "Sequence", "pretokenizers": [["type": "BertPreTokenizer"], byteLevel]], nil, "'BertPreTokenizer'"),
            (nil, ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Precompiled", "precompiled_charsmap": ""]]], "'Precompiled'"),
            (["type": "Sequence", "pretokenizers": [["type": "Split", "pattern": ["Regex": "a"], "behavior": "Sideways"], byteLevel]], nil, "'Sideways'"),
            (["type": "Sequence", "pretokenizers": [byteLevel, ["type": "Digits"]]], nil, "'Digits' after ByteLevel"),
            (["type": "Sequence", "pretokenizers": [["type": "Split", "behavior": "Isolated"], byteLevel]], nil, "no Regex or String pattern"),
        ]
        for test in cases {
            let (directory, path) = try Self.write(preTokenizer: test.pre, normalizer: test.normalizer)
            let what = Self.malformed(path)
            #expect(what?.contains(test.named) == true, "\(what ?? "no error") should name \(test.named)")
            withExtendedLifetime(directory) {}
        }
    }

    @Test("a split regex that does not compile is named when the tokenizer is built")
    func badRegex() throws {
        let pre: [String: Any] = ["type": "Sequence", "pretokenizers": [
            ["type": "Split", "pattern": ["Regex": "\\p{N}{1,3}"], "behavior": "Isolated", "invert": false],
            ["type": "Split", "pattern": ["Regex": "[a-z"], "behavior": "Isolated", "invert": false],
            ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false],
        ]]
        let (directory, path) = try Self.write(preTokenizer: pre)
        let spec = try TokenizerSpec(tokenizerJSON: path)
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(spec: spec) }
        guard case let .invalidPattern(pattern, _) = error else { Issue.record("expected invalidPattern, got \(String(describing: error))"); return }
        #expect(pattern == "[a-z")
        withExtendedLifetime(directory) {}
    }

    /// llama.cpp does the same for truncated sequences and stray continuation bytes; it also decodes overlong forms
    /// and surrogates, which a Swift String cannot hold, so those become U+FFFD here too.
    @Test("invalid UTF-8: one U+FFFD per byte that starts no valid sequence, no crash")
    func invalidUTF8() throws {
        let (directory, path) = try Self.write()
        let tokenizer = try Tokenizer(spec: TokenizerSpec(tokenizerJSON: path))
        let bad: [[UInt8]] = [[0xFF], [0xE2, 0x82], [0x61, 0x80, 0x80, 0x62], [0xF0, 0x9F, 0x98], [0xC0, 0xAF], Array("ab".utf8) + [0xED, 0xA0, 0x80]]
        for bytes in bad {
            let replaced = tokenizer.encode(bytes: bytes)
            var expected: [UInt8] = []
            var i = 0
            while i < bytes.count {
                if bytes[i] < 0x80 { expected.append(bytes[i]); i += 1 } else { expected += Array("\u{FFFD}".utf8); i += 1 }
            }
            #expect(replaced == tokenizer.encode(String(decoding: expected, as: UTF8.self)), "\(bytes)")
        }
        #expect(tokenizer.encode(bytes: Array("ab".utf8)) == tokenizer.encode("ab"))
        withExtendedLifetime(directory) {}
    }
}
