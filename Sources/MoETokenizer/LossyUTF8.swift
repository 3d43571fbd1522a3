/// Bytes → String the way llama.cpp's `unicode_cpts_from_utf8` reads a std::string that is not valid UTF-8:
/// a byte that does not start a complete sequence (by its lead bits and the continuation bytes that follow)
/// becomes one U+FFFD and reading resumes at the next byte. Swift's `String(decoding:)` would instead
/// replace a whole maximal invalid subpart with a single U+FFFD, giving fewer replacement characters.
/// (Overlong forms and surrogates, which llama.cpp decodes structurally, are still replaced by Swift here.)
enum LossyUTF8 {
    static func string(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let length = lead < 0x80 ? 1 : lead < 0xC0 ? 0 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 0
            if length > 0, i + length <= bytes.count, bytes[i + 1 ..< i + length].allSatisfy({ $0 & 0xC0 == 0x80 }) {
                out += bytes[i ..< i + length]
                i += length
            } else {
                out += [0xEF, 0xBF, 0xBD]
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
