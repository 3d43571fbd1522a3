/// A bounds-checked reader of the protobuf wire format, enough for SentencePiece's `tokenizer.model`
/// (SentencePieceModelFile.swift): varints, 32/64-bit fixed values and length-delimited fields, nested
/// messages read through a reader over their bytes. Every read checks the end first, so a truncated or
/// corrupt file is a FormatError naming the file and the byte offset, never a read past the buffer.
///
/// Wire format (protobuf.dev/programming-guides/encoding): a message is a sequence of fields, each a varint
/// key `number << 3 | wireType` followed by its value; 0 = varint, 1 = 8 bytes, 2 = varint length + bytes,
/// 5 = 4 bytes. Wire types 3 and 4 (groups, deprecated) and 6, 7 do not occur in SentencePiece files and are refused.
struct ProtobufReader {
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    let bytes: [UInt8]
    let path: String
    /// Offset of the next unread byte, and one past the last byte of this message (absolute, in `bytes`).
    private(set) var offset: Int
    let end: Int

    init(bytes: [UInt8], path: String) {
        self.init(bytes: bytes, path: path, range: 0 ..< bytes.count)
    }

    private init(bytes: [UInt8], path: String, range: Range<Int>) {
        self.bytes = bytes
        self.path = path
        offset = range.lowerBound
        end = range.upperBound
    }

    var isAtEnd: Bool { offset >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wireType: WireType)? {
        guard !isAtEnd else { return nil }
        let at = offset
        let key = try varint()
        guard let wireType = WireType(rawValue: key & 7) else {
            throw FormatError.malformed(path: path, what: "protobuf field at byte \(at) has wire type \(key & 7), which is not used here")
        }
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else {   // 2^29 − 1, the largest field number
            throw FormatError.malformed(path: path, what: "protobuf field at byte \(at) has number \(number)")
        }
        return (Int(number), wireType)
    }

    /// A base-128 varint: at most 10 bytes, least significant group first.
    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard offset < end else { throw FormatError.truncated(path: path, what: "protobuf varint at byte \(offset)") }
            let byte = bytes[offset]
            offset += 1
            // The tenth byte carries bit 63 only; anything more does not fit 64 bits.
            if shift == 63, byte > 1 { break }
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        throw FormatError.malformed(path: path, what: "protobuf varint ending at byte \(offset) is longer than 64 bits")
    }

    mutating func fixed32() throws -> UInt32 {
        guard end - offset >= 4 else { throw FormatError.truncated(path: path, what: "4-byte protobuf value at byte \(offset)") }
        var value: UInt32 = 0
        for k in 0 ..< 4 { value |= UInt32(bytes[offset + k]) << UInt32(8 * k) }
        offset += 4
        return value
    }

    /// The byte range of a length-delimited value (string, bytes or nested message).
    mutating func lengthDelimited() throws -> Range<Int> {
        let at = offset
        let length = try varint()
        guard length <= UInt64(end - offset) else {
            throw FormatError.outOfBounds(path: path, what: "protobuf field of \(length) bytes at byte \(at)")
        }
        let range = offset ..< offset + Int(length)
        offset = range.upperBound
        return range
    }

    /// A reader over a nested message's bytes.
    mutating func message() throws -> ProtobufReader {
        ProtobufReader(bytes: bytes, path: path, range: try lengthDelimited())
    }

    /// A string field; protobuf strings are UTF-8, and anything else is a corrupt file.
    mutating func string(field: String) throws -> String {
        let range = try lengthDelimited()
        // Decoding replaces invalid sequences with U+FFFD, so a changed byte sequence means invalid input.
        let text = String(decoding: bytes[range], as: UTF8.self)
        guard text.utf8.elementsEqual(bytes[range]) else {
            throw FormatError.malformed(path: path, what: "\(field) at byte \(range.lowerBound) is not valid UTF-8")
        }
        return text
    }

    /// Skips a field this reader does not use.
    mutating func skip(_ wireType: WireType) throws {
        switch wireType {
        case .varint: _ = try varint()
        case .fixed64:
            guard end - offset >= 8 else { throw FormatError.truncated(path: path, what: "8-byte protobuf value at byte \(offset)") }
            offset += 8
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed32: _ = try fixed32()
        }
    }

    /// Checks that a known field came with the wire type its declaration implies.
    func expect(_ wireType: WireType, _ actual: WireType, field: String) throws {
        guard wireType == actual else {
            throw FormatError.malformed(path: path, what: "\(field) has protobuf wire type \(actual.rawValue), expected \(wireType.rawValue)")
        }
    }
}
