import Foundation

/// The fields of a SentencePiece `tokenizer.model` (a serialized `sentencepiece.ModelProto`) that a
/// tokenizer needs, read by hand with ProtobufReader rather than through generated code. Field numbers and
/// defaults are those of sentencepiece_model.proto:
///
/// - ModelProto: 1 `pieces` (repeated), 2 `trainer_spec`, 3 `normalizer_spec`; others skipped.
/// - SentencePiece: 1 `piece` (string), 2 `score` (float), 3 `type` (enum, default NORMAL = 1).
/// - TrainerSpec: 3 `model_type` (UNIGRAM = 1 default, BPE = 2, WORD = 3, CHAR = 4), 24
///   `treat_whitespace_as_suffix`, 35 `byte_fallback`, 40/41/42/43 `unk_id`/`bos_id`/`eos_id`/`pad_id`
///   (defaults 0, 1, 2, −1; int32, so a negative id is a 10-byte varint).
/// - NormalizerSpec: 1 `name`, 2 `precompiled_charsmap`, 3 `add_dummy_prefix` (default true),
///   4 `remove_extra_whitespaces` (default true), 5 `escape_whitespaces` (default true).
public struct SentencePieceModelFile: Sendable {
    public struct Piece: Sendable, Equatable {
        public var piece: String
        public var score: Float
        public var type: TokenType
    }

    public enum ModelType: Int, Sendable {
        case unigram = 1, bpe = 2, word = 3, char = 4
    }

    public var pieces: [Piece] = []
    /// The raw enum value; `modelType` names the known ones.
    public var modelTypeValue = 1
    public var modelType: ModelType? { ModelType(rawValue: modelTypeValue) }
    public var byteFallback = false
    public var treatWhitespaceAsSuffix = false
    /// Negative means "none" (pad_id is −1 by default).
    public var unkId = 0, bosId = 1, eosId = 2, padId = -1
    public var normalizerName = ""
    public var precompiledCharsmapBytes = 0
    public var addDummyPrefix = true
    public var removeExtraWhitespaces = true
    public var escapeWhitespaces = true

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.missingFile(path: path) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError.cannotOpen(path: path, reason: FormatError.clip(error.localizedDescription))
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    public init(bytes: [UInt8], path: String) throws {
        var reader = ProtobufReader(bytes: bytes, path: path)
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(.lengthDelimited, wire, field: "ModelProto.pieces")
                var message = try reader.message()
                pieces.append(try Self.piece(&message, index: pieces.count))
            case 2:
                try reader.expect(.lengthDelimited, wire, field: "ModelProto.trainer_spec")
                var message = try reader.message()
                try readTrainerSpec(&message)
            case 3:
                try reader.expect(.lengthDelimited, wire, field: "ModelProto.normalizer_spec")
                var message = try reader.message()
                try readNormalizerSpec(&message)
            default:
                try reader.skip(wire)
            }
        }
        // Any byte string parses as *some* protobuf (often as nothing at all), so an empty vocabulary is
        // where a file that is not a SentencePiece model usually shows itself.
        guard !pieces.isEmpty else {
            throw FormatError.malformed(path: path, what: "no pieces (not a SentencePiece model?)")
        }
    }

    private static func piece(_ reader: inout ProtobufReader, index: Int) throws -> Piece {
        var piece = Piece(piece: "", score: 0, type: .normal)
        var sawText = false
        while let (number, wire) = try reader.nextField() {
            switch number {
            case 1:
                try reader.expect(.lengthDelimited, wire, field: "piece \(index) text")
                piece.piece = try reader.string(field: "piece \(index) text")
                sawText = true
            case 2:
                try reader.expect(.fixed32, wire, field: "piece \(index) score")
                piece.score = Float(bitPattern: try reader.fixed32())
            case 3:
                try reader.expect(.varint, wire, field: "piece \(index) type")
                let raw = try reader.varint()
                // Range first: Int(raw) traps for a varint of 2^63 or more (a negative int32 is one).
                guard raw >= 1, raw <= 6, let type = TokenType(rawValue: Int(raw)) else {
                    throw FormatError.malformed(path: reader.path, what: "piece \(index) has type \(raw) (known: 1 to 6)")
                }
                piece.type = type
            default:
                try reader.skip(wire)
            }
        }
        guard sawText, !piece.piece.isEmpty else {
            throw FormatError.malformed(path: reader.path, what: "piece \(index) has no text")
        }
        return piece
    }

    private mutating func readTrainerSpec(_ reader: inout ProtobufReader) throws {
        while let (number, wire) = try reader.nextField() {
            func int(_ name: String) throws -> Int {
                try reader.expect(.varint, wire, field: "trainer_spec.\(name)")
                // int32 fields: negative values are sign-extended to 64 bits on the wire.
                return Int(Int32(truncatingIfNeeded: Int64(bitPattern: try reader.varint())))
            }
            func bool(_ name: String) throws -> Bool {
                try reader.expect(.varint, wire, field: "trainer_spec.\(name)")
                return try reader.varint() != 0
            }
            switch number {
            case 3: modelTypeValue = try int("model_type")
            case 24: treatWhitespaceAsSuffix = try bool("treat_whitespace_as_suffix")
            case 35: byteFallback = try bool("byte_fallback")
            case 40: unkId = try int("unk_id")
            case 41: bosId = try int("bos_id")
            case 42: eosId = try int("eos_id")
            case 43: padId = try int("pad_id")
            default: try reader.skip(wire)
            }
        }
    }

    private mutating func readNormalizerSpec(_ reader: inout ProtobufReader) throws {
        while let (number, wire) = try reader.nextField() {
            func bool(_ name: String) throws -> Bool {
                try reader.expect(.varint, wire, field: "normalizer_spec.\(name)")
                return try reader.varint() != 0
            }
            switch number {
            case 1:
                try reader.expect(.lengthDelimited, wire, field: "normalizer_spec.name")
                normalizerName = try reader.string(field: "normalizer_spec.name")
            case 2:
                try reader.expect(.lengthDelimited, wire, field: "normalizer_spec.precompiled_charsmap")
                precompiledCharsmapBytes = try reader.lengthDelimited().count
            case 3: addDummyPrefix = try bool("add_dummy_prefix")
            case 4: removeExtraWhitespaces = try bool("remove_extra_whitespaces")
            case 5: escapeWhitespaces = try bool("escape_whitespaces")
            default: try reader.skip(wire)
            }
        }
    }
}
