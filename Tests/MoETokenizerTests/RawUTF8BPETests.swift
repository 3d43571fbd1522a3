import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// Raw-UTF-8 BPE (`tokenizer.ggml.model = gemma4`, or `gpt2` with a raw-UTF-8 `pre`) one rule at a time, on a
/// vocabulary small enough to work out by hand. llama.cpp's own gemma-4 vocabulary is in LlamaVocabSuiteTests.
struct RawUTF8BPETests {
    static let mark = "\u{2581}"

    /// <pad> <eos> <bos> <|turn> (control) <u> (user-defined), the 256 byte tokens (ids 5…260), then the pieces
    /// below (ids 261…) with merges in this order: "a b", "▁ ab", "\n \n", "\n\n \n".
    static func tokenizer(model: String = "gemma4", pre: String? = nil, extra: [(String, GGUFValue)] = []) throws -> Tokenizer {
        var tokens = ["<pad>", "<eos>", "<bos>", "<|turn>", "<u>"], types: [Int32] = [3, 3, 3, 3, 4]
        for byte in 0 ..< 256 {
            tokens.append(String(format: "<0x%02X>", byte))
            types.append(6)
        }
        for piece in pieces {
            tokens.append(piece)
            types.append(1)
        }
        var meta: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string(model)),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0) })),
            ("tokenizer.ggml.merges", .array(.string, ["a b", "\(mark) ab", "\n \n", "\n\n \n"].map { .string($0) })),
            ("tokenizer.ggml.bos_token_id", .uint32(2)),
            ("tokenizer.ggml.eos_token_id", .uint32(1)),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        if let pre { meta.append(("tokenizer.ggml.pre", .string(pre))) }
        meta += extra
        let dir = try TemporaryDirectory()
        return try Tokenizer.load(modelPath: dir.write("vocab.gguf", ggufBytes(meta)))
    }

    static let pieces = [mark, "a", "b", "ab", mark + "ab", "\n", "\n\n", "\n\n\n"]
    static let space = 261, a = 262, b = 263, ab = 264, spaceAB = 265, newline = 266, newline2 = 267, newline3 = 268
    static func byte(_ b: UInt8) -> Int { 5 + Int(b) }

    @Test("spaces become ▁ with none put in front; merges by rank over UTF-8 characters")
    func spacesAndMerges() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("ab ab") == [Self.ab, Self.spaceAB])
        #expect(t.encode(" ab") == [Self.spaceAB])
        #expect(t.encode("ba") == [Self.b, Self.a], "no merge 'b a'")
        #expect(t.decode([Self.ab, Self.spaceAB]) == "ab ab")
    }

    @Test("a newline run is cut from its neighbours, taken whole when it is a token (gemma-4), else merged")
    func newlineRuns() throws {
        let t = try Self.tokenizer()
        // "b\na": the newline is its own run, so no merge reaches across it.
        #expect(t.encode("a\nb") == [Self.a, Self.newline, Self.b])
        #expect(t.encode("\n\n\n") == [Self.newline3], "a token: whole")
        // Four newlines are no token: merged by rank, "\n \n" first (leftmost twice), then nothing joins \n\n + \n\n.
        #expect(t.encode("\n\n\n\n") == [Self.newline2, Self.newline2])
        // sarvam-moe has the same split but no whole-run rule: "\n\n\n" merges to \n\n + \n, and "\n\n \n" then
        // joins them (rank 3).
        let sarvam = try Self.tokenizer(model: "gpt2", pre: "sarvam-moe")
        #expect(sarvam.encode("\n\n\n") == [Self.newline3])
        #expect(sarvam.encode("\n\n\n\n") == [Self.newline2, Self.newline2])
    }

    @Test("characters without a token fall back to <0xXX>; invalid UTF-8 is read as U+FFFD per byte")
    func byteFallback() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("é") == [Self.byte(0xC3), Self.byte(0xA9)])
        #expect(t.decode([Self.byte(0xC3), Self.byte(0xA9)]) == "é")
        // 0xFF starts nothing: EF BF BD; the lone lead byte C3 before 'a' likewise.
        #expect(t.encode(bytes: [0xFF, 0x61]) == [Self.byte(0xEF), Self.byte(0xBF), Self.byte(0xBD), Self.a])
        #expect(t.encode(bytes: [0xC3, 0x61]) == [Self.byte(0xEF), Self.byte(0xBF), Self.byte(0xBD), Self.a])
    }

    @Test("control tokens only with parseSpecial, user-defined always; gemma-4 always adds BOS")
    func specialTokens() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("<|turn>ab", parseSpecial: true) == [3, Self.ab])
        #expect(t.encode("<u>ab", parseSpecial: false) == [4, Self.ab])
        #expect(t.encode("<eos>", parseSpecial: false).allSatisfy { $0 >= 5 }, "control text stays text")
        #expect(t.decode([3, Self.ab]) == "ab", "control tokens print nothing")
        #expect(t.decode([4]) == "<u>")
        #expect(t.encodePrompt("ab") == [2, Self.ab], "add_bos_token false is overridden, as llama.cpp does for gemma-4")
        let granite = try Self.tokenizer(model: "gpt2", pre: "granite-embed-multi-311m")
        #expect(granite.encode("ab ab") == [Self.ab, Self.spaceAB])
    }

    @Test("a merge of an unknown token or a byte token that is not <0xXX> is refused, naming the file")
    func badInput() throws {
        #expect(throws: FormatError.self) {
            _ = try Self.tokenizer(extra: [("tokenizer.ggml.merges", .array(.string, [.string("a zz")]))])
        }
        #expect(throws: FormatError.self) {
            _ = try Self.tokenizer(extra: [("tokenizer.ggml.merges", .array(.string, [.string("nospace")]))])
        }
    }
}

/// Inputs the fuzz targets (Tools/fuzz) found, kept as tests.
struct TokenizerFuzzRegressionTests {
    @Test("regression (gguf-tokenizer target): a merge naming a token with a newline gives a one-line error")
    func mergeOfTokenWithNewline() throws {
        let meta: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.tokens", .array(.string, ["a", "b"].map { .string($0) })),
            ("tokenizer.ggml.merges", .array(.string, [.string("*\n b")])),
        ]
        let dir = try TemporaryDirectory()
        let spec = try TokenizerSpec(gguf: GGUFFile(path: dir.write("vocab.gguf", ggufBytes(meta))))
        let error = #expect(throws: TokenizerError.self) { try Tokenizer(spec: spec) }
        let text = error?.description ?? ""
        #expect(!text.contains("\n"), "\(text.debugDescription)")
        #expect(text.contains("merge 0 uses '*\\u{a}'"), "\(text.debugDescription)")
    }
}
