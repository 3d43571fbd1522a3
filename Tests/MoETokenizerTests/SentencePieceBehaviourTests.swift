import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// The SentencePiece rules one at a time, on vocabularies small enough to work out by hand.
struct SentencePieceBehaviourTests {
    static let mark = "\u{2581}"

    /// A GGUF (model "llama", no tensors): <unk> <s> </s>, the 256 byte tokens (ids 3…258), then `pieces`.
    static func ggufTokenizer(_ pieces: [(String, Float, Int32)], extra: [String: GGUFValue] = [:]) throws -> Tokenizer {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/vocab.gguf"
        var tokens = ["<unk>", "<s>", "</s>"], scores: [Float] = [0, 0, 0], types: [Int32] = [2, 3, 3]
        for byte in 0 ..< 256 {
            tokens.append(String(format: "<0x%02X>", byte))
            scores.append(0)
            types.append(6)
        }
        for (text, score, type) in pieces {
            tokens.append(text)
            scores.append(score)
            types.append(type)
        }
        var meta: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("llama"),
            "tokenizer.ggml.tokens": .array(.string, tokens.map { .string($0) }),
            "tokenizer.ggml.scores": .array(.float32, scores.map { .float32($0) }),
            "tokenizer.ggml.token_type": .array(.int32, types.map { .int32($0) }),
        ]
        meta.merge(extra) { $1 }
        let writer = try GGUFWriter(path: path)
        for key in meta.keys.sorted() { try writer.setMetadata(key, meta[key]!) }
        try writer.finish()
        return try Tokenizer.load(modelPath: path)
    }

    static func byte(_ b: UInt8) -> Int { 3 + Int(b) }

    /// ids 259…: ▁ a b c ab bc ▁a <x>(user-defined)
    static let pieces: [(String, Float, Int32)] = [
        (mark, -1, 1), ("a", -2, 1), ("b", -3, 1), ("c", -4, 1), ("ab", -10, 1), ("bc", -5, 1), (mark + "a", -6, 1), ("<x>", 0, 4),
    ]
    static let space = 259, a = 260, b = 261, c = 262, ab = 263, bc = 264, spaceA = 265, userX = 266

    @Test("merges take the highest-scoring pair first, the leftmost on ties")
    func mergeOrder() throws {
        let t = try Self.ggufTokenizer(Self.pieces)
        // ▁ a b c: ▁a −6, ab −10, bc −5 → bc, then ▁a; "▁abc" is no token.
        #expect(t.encode("abc") == [Self.spaceA, Self.bc])
        #expect(t.encodePrompt("abc") == [1, Self.spaceA, Self.bc])
        // ab and bc tie: the left pair wins. No space prefix here.
        var tied = Self.pieces
        tied[4].1 = -5
        let u = try Self.ggufTokenizer(tied, extra: ["tokenizer.ggml.add_space_prefix": .bool(false)])
        #expect(u.encode("abc") == [Self.ab, Self.c])
        #expect(u.encode(" abc") == [Self.space, Self.ab, Self.c], "▁a −6 loses to ab −5")
    }

    @Test("characters missing from the vocabulary become their UTF-8 bytes' tokens, and decode back")
    func byteFallback() throws {
        let t = try Self.ggufTokenizer(Self.pieces)
        let ids = t.encode("é a")
        #expect(ids == [Self.space, Self.byte(0xC3), Self.byte(0xA9), Self.spaceA])
        #expect(t.decode(ids) == "é a")
        #expect(t.decode([1] + ids + [2]) == "é a", "control tokens print nothing")
        // Streaming keeps the prefix space and joins the bytes of one character.
        var stream = UTF8StreamDecoder()
        #expect(ids.map { stream.decode(t.decodeBytes([$0])) }.joined() + stream.finish() == " é a")
    }

    @Test("special text: parsed into the token, with llama.cpp's space after it, or left as text")
    func specialText() throws {
        let t = try Self.ggufTokenizer(Self.pieces)
        #expect(t.encode("a<s>a") == [Self.spaceA, 1, Self.spaceA])
        #expect(t.encode("a<s>a", parseSpecial: false) == [Self.spaceA, Self.byte(0x3C), Self.byte(0x73), Self.byte(0x3E), Self.a])
        // A user-defined token is matched either way.
        #expect(t.encode("a<x>", parseSpecial: false) == [Self.spaceA, Self.userX])
        #expect(t.encode("") == [] && t.encodePrompt("") == [1])
    }

    @Test("invalid UTF-8 is merged byte by byte as llama.cpp does, never a crash")
    func invalidUTF8() throws {
        let t = try Self.ggufTokenizer(Self.pieces)
        // 0xFF announces a 4-byte sequence (llama.cpp's unicode_len_utf8), cut short by the end: one symbol.
        #expect(t.encode(bytes: [0x61, 0xFF]) == [Self.spaceA, Self.byte(0xFF)])
        #expect(t.encode(bytes: [0x80, 0x61]) == [Self.space, Self.byte(0x80), Self.a])
        // Random bytes: every byte survives (byte tokens cover all 256). A space comes back as a space, or as
        // ▁'s own bytes when a stray lead byte swallowed its ▁ into a symbol that is no token (as in llama.cpp).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for length in 0 ..< 200 {
            let bytes = (0 ..< length).map { _ -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            let decoded = t.decodeBytes(t.encode(bytes: bytes, parseSpecial: false))
            var spaces: [UInt8] = [], i = 0
            while i < decoded.count {
                if decoded[i...].starts(with: [0xE2, 0x96, 0x81]) { spaces.append(0x20); i += 3 } else { spaces.append(decoded[i]); i += 1 }
            }
            #expect(spaces == (length > 0 ? [0x20] : []) + bytes)
        }
    }

    @Test("llama.cpp's corrections: end-of-generation markers are control tokens, Phi-3's special tokens RSTRIP")
    func llamaCppCorrections() throws {
        // "<|end|>" typed user-defined (4) is still control: text when special text is not parsed.
        let pieces = Self.pieces + [("<|end|>", 0, 4)]
        let end = 267
        let t = try Self.ggufTokenizer(pieces)
        #expect(t.isSpecial(end))
        #expect(t.encode("a<|end|>", parseSpecial: true) == [Self.spaceA, end])
        #expect(!t.encode("a<|end|>", parseSpecial: false).contains(end))
        // Not Phi-3: the space after a special token stays (then gets llama.cpp's prefix too).
        #expect(t.encode("<|end|> a") == [end, Self.space, Self.spaceA])
        // Phi-3 (by general.name, as llama.cpp decides): whitespace after it is dropped; <s> keeps it.
        let phi = try Self.ggufTokenizer(pieces, extra: ["general.name": .string("Phi-3 mini")])
        #expect(phi.encode("<|end|> \n a") == [end, Self.spaceA])
        #expect(phi.encode("<s> a") == [1, Self.space, Self.spaceA])
    }

    @Test("EOS is added where the file asks for it, and BOS can be turned off")
    func specialEnds() throws {
        let t = try Self.ggufTokenizer(Self.pieces, extra: ["tokenizer.ggml.add_eos_token": .bool(true), "tokenizer.ggml.add_bos_token": .bool(false)])
        #expect(t.addsEosToken && !t.addsBosToken)
        #expect(t.encodePrompt("a") == [Self.spaceA, 2])
    }

    // MARK: tokenizer.json (Hugging Face rules)

    /// ids: <unk> <s> </s> <0xC3> <0xA9> ▁ a b ▁a ab ▁ab b▁ ▁ba; merges (b ▁) (▁ a) (a b) (▁a b).
    static func jsonTokenizer(scheme: String = "first", split: Bool = false, model: [String: Any] = [:]) throws -> Tokenizer {
        let dir = try TemporaryDirectory()
        let tokens = ["<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", mark, "a", "b", mark + "a", "ab", mark + "ab", "b" + mark, mark + "ba"]
        var m: [String: Any] = [
            "type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
            "vocab": Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) }),
            "merges": [["b", mark], [mark, "a"], ["a", "b"], [mark + "a", "b"]],
        ]
        m.merge(model) { $1 }
        let root: [String: Any] = [
            "model": m, "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Metaspace", "replacement": mark, "prepend_scheme": scheme, "split": split],
            "added_tokens": [["id": 0, "content": "<unk>", "special": true], ["id": 1, "content": "<s>", "special": true]],
            "post_processor": ["type": "TemplateProcessing", "single": [["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                               "special_tokens": ["<s>": ["id": "<s>", "ids": [1], "tokens": ["<s>"]]]],
        ]
        _ = try dir.writeJSON("tokenizer.json", root)
        return try Tokenizer.load(modelPath: dir.path)
    }

    @Test("Metaspace prepend_scheme: first, always, never")
    func prependScheme() throws {
        let first = try Self.jsonTokenizer(scheme: "first")
        #expect(first.encodePrompt("ab") == [1, 10])
        #expect(first.encode(" ab") == [10], "a text that starts with a space gets no second ▁")
        #expect(first.encode("ab<s>ab") == [10, 1, 9], "only the text at the very start")
        let always = try Self.jsonTokenizer(scheme: "always")
        #expect(always.encode("ab<s>ab") == [10, 1, 10])
        let never = try Self.jsonTokenizer(scheme: "never")
        #expect(never.encode("ab") == [9])
        #expect(first.decode([1, 10]) == "ab" && never.decode([9]) == "ab")
    }

    @Test("merges by rank; Metaspace split cuts before every ▁")
    func rankAndSplit() throws {
        // ▁ab▁ab: (b ▁) has rank 0 and is merged first when nothing splits the text.
        #expect(try Self.jsonTokenizer(split: false).encode("ab ab") == [8, 11, 9])
        #expect(try Self.jsonTokenizer(split: true).encode("ab ab") == [10, 10])
    }

    @Test("byte fallback needs every byte; otherwise unknown, fused or not; ignore_merges")
    func unknownAndIgnoreMerges() throws {
        let t = try Self.jsonTokenizer()
        #expect(t.encode("é") == [5, 3, 4])
        #expect(t.encode("€€") == [5, 0, 0], "no <0xE2> token: unknown, one per character")
        #expect(try Self.jsonTokenizer(model: ["fuse_unk": true]).encode("€€a") == [5, 0, 6])
        #expect(try Self.jsonTokenizer(model: ["byte_fallback": false]).encode("é") == [5, 0])
        // ▁ba is a vocabulary entry no merge reaches.
        #expect(try Self.jsonTokenizer().encode("ba") == [5, 7, 6])
        #expect(try Self.jsonTokenizer(model: ["ignore_merges": true]).encode("ba") == [12])
    }

    @Test("the older normalizer form: Prepend(▁) and Replace(' ', ▁), no pre-tokenizer")
    func prependNormalizer() throws {
        let dir = try TemporaryDirectory()
        let tokens = ["<unk>", "<s>", "</s>", Self.mark, "a", Self.mark + "a"]
        let root: [String: Any] = [
            "model": ["type": "BPE", "byte_fallback": true, "vocab": Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) }),
                      "merges": [[Self.mark, "a"]]],
            "normalizer": ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": Self.mark],
                                                               ["type": "Replace", "pattern": ["String": " "], "content": Self.mark]]],
            "pre_tokenizer": NSNull(), "added_tokens": [["id": 1, "content": "<s>", "special": true]],
        ]
        _ = try dir.writeJSON("tokenizer.json", root)
        let t = try Tokenizer.load(modelPath: dir.path)
        // Unlike Metaspace "first", Prepend puts ▁ before every text, even one that starts with a space.
        #expect(t.encode(" a") == [3, 5])
        #expect(t.encode("a<s>a") == [5, 1, 5])
    }
}
