/// Turns token bytes arriving piecemeal into text without splitting a UTF-8 sequence: each call returns
/// what is complete so far and keeps an unfinished sequence (at most 3 bytes) for the next call.
public struct UTF8StreamDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func decode(_ bytes: [UInt8]) -> String {
        pending.append(contentsOf: bytes)
        let complete = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is left at the end of the stream; an unfinished sequence becomes U+FFFD.
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the prefix that does not end inside a multi-byte sequence: find the last lead byte among
    /// the final four bytes and check whether all the continuation bytes it announces have arrived.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        var i = bytes.count - 1
        while i >= 0 && i >= bytes.count - 4 {
            let byte = bytes[i]
            if byte & 0xC0 != 0x80 { // ASCII or a lead byte
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return bytes.count - i < length ? i : bytes.count
            }
            i -= 1
        }
        return bytes.count // only continuation bytes: invalid anyway, let them through
    }
}
