/// GPT-2's reversible map between bytes and printable code points. Byte-level BPE vocabularies spell every
/// token with these 256 characters: printable Latin-1 stands for itself, the other bytes (controls, space,
/// 0x7F–0xA0, 0xAD) are shifted to U+0100… so that "Ġ" (U+0120) is the space byte 0x20.
enum ByteLevel {
    /// byte → the character that spells it in vocabulary strings.
    static let scalarForByte: [Unicode.Scalar] = {
        let printable = Array(0x21 ... 0x7E) + Array(0xA1 ... 0xAC) + Array(0xAE ... 0xFF)
        var scalars = [Unicode.Scalar](repeating: " ", count: 256)
        var shifted = 0
        for byte in 0 ..< 256 {
            if printable.contains(byte) {
                scalars[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                scalars[byte] = Unicode.Scalar(UInt32(256 + shifted))!
                shifted += 1
            }
        }
        return scalars
    }()

    /// byte → the UTF-8 of the character that spells it.
    static let spelling: [[UInt8]] = scalarForByte.map { Array(String($0).utf8) }

    /// code point → byte, for the 256 code points above (all lie below U+0144).
    static let byteForScalar: [UInt32: UInt8] = Dictionary(
        uniqueKeysWithValues: scalarForByte.enumerated().map { ($0.element.value, UInt8($0.offset)) })

    /// The raw bytes a vocabulary string stands for. A character outside the alphabet (which a byte-level
    /// vocabulary should not contain) stands for its own UTF-8, so nothing is lost.
    static func bytes(of token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            if let byte = byteForScalar[scalar.value] {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes
    }
}
