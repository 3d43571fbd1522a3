import Foundation
import MoEFormats
import Testing

/// Protobuf wire-format bytes, for SentencePiece models the tests build and break by hand.
struct ProtoBytes {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func key(_ number: Int, _ wire: UInt64) { varint(UInt64(number) << 3 | wire) }
    mutating func int(_ number: Int, _ v: Int) { key(number, 0); varint(UInt64(bitPattern: Int64(v))) }
    mutating func float(_ number: Int, _ v: Float) {
        key(number, 5)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
    }
    mutating func bytes(_ number: Int, _ b: [UInt8]) { key(number, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ number: Int, _ s: String) { bytes(number, Array(s.utf8)) }
    mutating func message(_ number: Int, _ m: ProtoBytes) { bytes(number, m.bytes) }

    /// A small valid BPE model: <unk>, <s>, </s>, two byte pieces, ▁, a, b, ▁a, ab; pad_id −1 (a 10-byte varint).
    static func sentencePieceModel(modelType: Int = 2, pieces: [(String, Float, Int)]? = nil) -> [UInt8] {
        var model = ProtoBytes()
        let list = pieces ?? [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("<0x0A>", 0, 6), ("<0xE2>", 0, 6),
                              ("\u{2581}", -1, 1), ("a", -2, 1), ("b", -3, 1), ("\u{2581}a", -4, 1), ("ab", -5, 1)]
        for (text, score, type) in list {
            var piece = ProtoBytes()
            piece.string(1, text)
            piece.float(2, score)
            piece.int(3, type)
            model.message(1, piece)
        }
        var trainer = ProtoBytes()
        trainer.int(3, modelType)
        trainer.int(4, list.count)
        trainer.int(35, 1)
        trainer.int(40, 0); trainer.int(41, 1); trainer.int(42, 2); trainer.int(43, -1)
        model.message(2, trainer)
        var normalizer = ProtoBytes()
        normalizer.string(1, "identity")
        normalizer.int(3, 1)
        normalizer.int(4, 0)
        model.message(3, normalizer)
        return model.bytes
    }
}

/// A SentencePiece `tokenizer.model` that is not a valid protobuf, or not a model we can run, is a FormatError
/// naming the file; GGUF and tokenizer.json SentencePiece vocabularies with missing or contradictory parts too.
struct SentencePieceBadInputTests {
    static func load(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let dir = try BadInputScratch()
        let path = try dir.write("tokenizer.model", bytes)
        return (formatError({ _ = try TokenizerSpec(sentencePieceModel: path) }, sourceLocation: sourceLocation), path)
    }

    @Test("the small model the other tests break is valid")
    func validModel() throws {
        let dir = try BadInputScratch()
        let path = try dir.write("tokenizer.model", ProtoBytes.sentencePieceModel())
        let spec = try TokenizerSpec(sentencePieceModel: path)
        #expect(spec.tokens.count == 10 && spec.tokens[8] == "\u{2581}a")
        #expect(spec.scores[9] == -5 && spec.tokenTypes[3] == .byte && spec.tokenTypes[1] == .control)
        #expect(spec.bosTokenId == 1 && spec.eosTokenId == 2 && spec.addBosToken)
        #expect(spec.addedTokens.map(\.id) == [0, 1, 2])
        guard case let .sentencePiece(options) = spec.kind else { Issue.record("not SentencePiece"); return }
        #expect(options.merging == .byScore && options.spacePrefix == .everyText && options.unknownTokenId == 0)
    }

    @Test("not a protobuf: truncated, a bad varint, a length past the end, a wrong or unknown wire type")
    func notAProtobuf() throws {
        let valid = ProtoBytes.sentencePieceModel()
        let cases: [([UInt8], String)] = [
            (Array(valid.prefix(7)), "lies outside the file"),                  // a piece's length runs past the end
            ([0x0A], "truncated"),                                             // a key with no length
            ([0x0A] + [UInt8](repeating: 0xFF, count: 11), "longer than 64 bits"),
            ([0x0A, 0x80], "truncated"),                                        // a varint cut short
            ([0x0A, 0x7F, 0x01], "lies outside the file"),
            ([0x0B, 0x00], "wire type 3"),                                      // a group
            ([0x0F], "wire type 7"),
            ([0x00, 0x00], "number 0"),
            ([0x08, 0x01], "wire type 0, expected 2"),                          // pieces as a varint
            ([0x25, 0, 0], "truncated"),                                        // an unknown fixed32 field cut short
            (Array("hello, world, this is not a model".utf8), "malformed"),
            ([], "no pieces"),
        ]
        for (bytes, phrase) in cases {
            let (e, path) = try Self.load(bytes)
            expectMessage(e, path: path, phrase)
        }
    }

    @Test("pieces and specs that parse but make no model")
    func badContent() throws {
        var wrongScore = ProtoBytes()
        var piece = ProtoBytes()
        piece.string(1, "a")
        piece.int(2, 3)   // a score as a varint
        wrongScore.message(1, piece)
        var badUTF8 = ProtoBytes()
        var piece2 = ProtoBytes()
        piece2.bytes(1, [0x61, 0xFF])
        badUTF8.message(1, piece2)
        let model = ProtoBytes.sentencePieceModel
        let cases: [([UInt8], [String])] = [
            (wrongScore.bytes, ["piece 0 score", "wire type 0"]),
            (badUTF8.bytes, ["piece 0 text", "not valid UTF-8"]),
            (model(1, nil), ["UNIGRAM", "not supported"]),
            (model(2, [("<unk>", 0, 2), ("a", 0, 9)]), ["piece 1", "type 9"]),
            (model(2, [("<unk>", 0, 2), ("", 0, 1)]), ["piece 1 has no text"]),
            (model(2, [("<unk>", 0, 2), ("a", 0, 1), ("a", 0, 1)]), ["appears twice"]),
            (model(2, [("<unk>", 0, 2), ("<0xZZ>", 0, 6)]), ["byte token 1", "not <0xXX>"]),
        ]
        for (bytes, phrases) in cases {
            let (e, path) = try Self.load(bytes)
            for phrase in phrases { expectMessage(e, path: path, phrase) }
        }
    }

    @Test("regression: a piece type of 2^63 or more is refused, not a trap converting it to Int")
    func hugePieceType() throws {
        // One piece "a" with type −1 as protobuf writes a negative int32: a 10-byte varint, UInt64.max.
        let bytes: [UInt8] = [0x0A, 0x0E, 0x0A, 0x01, 0x61, 0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let (e, path) = try Self.load(bytes)
        expectMessage(e, path: path, "piece 0 has type 18446744073709551615", "known: 1 to 6")
    }

    /// A vocabulary-only GGUF with model "llama" and the given keys over three tokens.
    static func gguf(_ dir: BadInputScratch, _ edit: (inout [String: GGUFValue]) -> Void) throws -> String {
        let path = dir.file("vocab-\(UUID().uuidString).gguf")
        var meta: [String: GGUFValue] = [
            "general.architecture": .string("llama"),
            "tokenizer.ggml.model": .string("llama"),
            "tokenizer.ggml.tokens": .array(.string, ["<unk>", "<0x41>", "\u{2581}a"].map { .string($0) }),
            "tokenizer.ggml.scores": .array(.float32, [0, 0, -1].map { .float32($0) }),
            "tokenizer.ggml.token_type": .array(.int32, [2, 6, 1].map { .int32($0) }),
        ]
        edit(&meta)
        let writer = try GGUFWriter(path: path)
        for key in meta.keys.sorted() { try writer.setMetadata(key, meta[key]!) }
        try writer.finish()
        return path
    }

    @Test("GGUF SentencePiece vocabularies: missing scores, a type out of range, a malformed byte token")
    func ggufVocabulary() throws {
        let dir = try BadInputScratch()
        let valid = try TokenizerSpec(modelPath: Self.gguf(dir) { _ in })
        // llama.cpp's defaults for model "llama" when the keys are absent: BOS 1 (added), EOS 2.
        #expect(valid.tokens.count == 3 && valid.bosTokenId == 1 && valid.eosTokenId == 2 && valid.addBosToken)
        let cases: [((inout [String: GGUFValue]) -> Void, [String])] = [
            ({ $0["tokenizer.ggml.scores"] = nil }, ["no tokenizer.ggml.scores array"]),
            ({ $0["tokenizer.ggml.scores"] = .array(.float32, [.float32(0)]) }, ["1 entries for 3 tokens"]),
            ({ $0["tokenizer.ggml.scores"] = .array(.string, [.string("x"), .string("y"), .string("z")]) }, ["scores[0] is not a number"]),
            ({ $0["tokenizer.ggml.scores"] = .array(.float32, [0, .nan, 0].map { .float32($0) }) }, ["scores[1] is not a number"]),
            ({ $0["tokenizer.ggml.token_type"] = .array(.int32, [2, 6, 7].map { .int32($0) }) }, ["token_type[2] is 7", "0 to 6"]),
            ({ $0["tokenizer.ggml.token_type"] = .array(.int32, [2, 6, -1].map { .int32($0) }) }, ["token_type[2] is -1"]),
            ({ $0["tokenizer.ggml.token_type"] = .array(.int32, [2, 6].map { .int32($0) }) }, ["2 entries for 3 tokens"]),
            ({ $0["tokenizer.ggml.token_type"] = .array(.int32, [2, 6, 6].map { .int32($0) }) }, ["byte token 2", "not <0xXX>"]),
            ({ $0["tokenizer.ggml.tokens"] = .array(.string, []) }, ["tokenizer.ggml.tokens is empty"]),
            ({ $0["tokenizer.ggml.bos_token_id"] = .uint32(3) }, ["bos_token_id is not a token id below 3"]),
            ({ $0["tokenizer.ggml.model"] = .string("t5") }, ["'t5' is not supported", "'llama', SentencePiece"]),
        ]
        for (edit, phrases) in cases {
            let path = try Self.gguf(dir, edit)
            let e = formatError { _ = try TokenizerSpec(modelPath: path) }
            for phrase in phrases { expectMessage(e, path: path, phrase) }
        }
    }

    @Test("SentencePiece-style tokenizer.json parts we do not run are named")
    func tokenizerJSON() throws {
        let vocab: [String: Any] = ["<unk>": 0, "<0x41>": 1, "\u{2581}": 2, "a": 3, "\u{2581}a": 4]
        func file(pre: Any?, normalizer: Any? = nil, model: [String: Any] = [:]) -> [String: Any] {
            var m: [String: Any] = ["type": "BPE", "vocab": vocab, "merges": ["\u{2581} a"], "byte_fallback": true]
            m.merge(model) { $1 }
            return ["model": m, "pre_tokenizer": pre ?? NSNull(), "normalizer": normalizer ?? NSNull(), "added_tokens": []]
        }
        let metaspace: [String: Any] = ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "first", "split": false]
        let cases: [([String: Any], [String])] = [
            (file(pre: ["type": "Metaspace", "replacement": "_", "prepend_scheme": "first"]), ["replacement '_'"]),
            (file(pre: ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "sometimes"]), ["prepend_scheme 'sometimes'"]),
            (file(pre: ["type": "Sequence", "pretokenizers": [metaspace, ["type": "Digits"]]]), ["Metaspace", "sequence of 2 steps"]),
            (file(pre: nil, normalizer: ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": "\u{2581}"], ["type": "NFKC"]]]),
             ["normalizer 'NFKC'"]),
            (file(pre: metaspace, model: ["dropout": 0.1]), ["dropout"]),
            (file(pre: metaspace, model: ["unk_token": "<nope>"]), ["unk_token '<nope>'"]),
            (file(pre: metaspace, model: ["merges": [1, 2]]), ["merge 0"]),
        ]
        for (object, phrases) in cases {
            let dir = try BadInputScratch()
            let path = try dir.write("tokenizer.json", [UInt8](try JSONSerialization.data(withJSONObject: object)))
            let e = formatError { _ = try TokenizerSpec(tokenizerJSON: path) }
            for phrase in phrases { expectMessage(e, path: path, phrase) }
        }
    }
}
