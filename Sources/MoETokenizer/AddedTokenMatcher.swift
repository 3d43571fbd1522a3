import MoEFormats

/// Finds added tokens (e.g. "<|endoftext|>") verbatim in text, before any pre-tokenization, so that no
/// regex piece or BPE merge can straddle one. Leftmost match first, longest on ties, as Hugging Face's
/// Aho-Corasick (LeftmostLongest) does, with its per-token options: `single_word` (skip a match that touches a
/// word character; the matched text then stays ordinary text), `lstrip`/`rstrip` (the token also takes the
/// whitespace before/after it).
struct AddedTokenMatcher: Sendable {
    enum Segment: Equatable {
        case text(Range<Int>) // UTF-8 byte range of ordinary text
        case token(Int) // an added token's id
    }

    private struct Candidate: Sendable {
        let bytes: [UInt8]
        let token: AddedToken
    }

    /// Candidates by first byte, longest first. Contents are valid UTF-8, so a match can only start on a
    /// scalar boundary and the text between matches is valid UTF-8 too.
    private let candidatesByFirstByte: [[Candidate]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        var table = [[Candidate]](repeating: [], count: 256)
        for token in tokens where !token.content.isEmpty {
            let bytes = Array(token.content.utf8)
            table[Int(bytes[0])].append(Candidate(bytes: bytes, token: token))
        }
        candidatesByFirstByte = table.map { $0.sorted { $0.bytes.count > $1.bytes.count } }
        isEmpty = tokens.allSatisfy(\.content.isEmpty)
    }

    /// The segments of `bytes[range]`; special tokens are left as text unless `parseSpecial`.
    func segments(of bytes: [UInt8], in range: Range<Int>, parseSpecial: Bool) -> [Segment] {
        guard !isEmpty else { return range.isEmpty ? [] : [.text(range)] }
        var segments: [Segment] = []
        var textStart = range.lowerBound, i = range.lowerBound
        while i < range.upperBound {
            let found = candidatesByFirstByte[Int(bytes[i])].first { candidate in
                (parseSpecial || !candidate.token.special) && i + candidate.bytes.count <= range.upperBound
                    && bytes[i ..< i + candidate.bytes.count].elementsEqual(candidate.bytes)
            }
            guard let match = found else { i += 1; continue }
            var start = i, end = i + match.bytes.count
            let token = match.token
            if token.singleWord && (Self.isWordCharacter(before: start, in: bytes, from: range.lowerBound)
                || Self.isWordCharacter(at: end, in: bytes, to: range.upperBound)) {
                i = end // the matched text stays ordinary text; the search goes on after it, as Aho-Corasick's does
                continue
            }
            if token.lstrip {
                while start > textStart, let (scalar, length) = Self.scalar(before: start, in: bytes, from: textStart),
                      scalar.properties.isWhitespace { start -= length }
            }
            if token.rstrip {
                while end < range.upperBound, let (scalar, length) = Self.scalar(at: end, in: bytes, to: range.upperBound),
                      scalar.properties.isWhitespace { end += length }
            }
            if start > textStart { segments.append(.text(textStart ..< start)) }
            segments.append(.token(token.id))
            i = end
            textStart = end
        }
        if range.upperBound > textStart { segments.append(.text(textStart ..< range.upperBound)) }
        return segments
    }

    // Rust regex's `\w` (what tokenizers tests for single_word): alphabetic, marks, decimal digits, connector
    // punctuation, joiners.
    private static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    private static func isWordCharacter(before index: Int, in bytes: [UInt8], from lower: Int) -> Bool {
        scalar(before: index, in: bytes, from: lower).map { isWord($0.0) } ?? false
    }

    private static func isWordCharacter(at index: Int, in bytes: [UInt8], to upper: Int) -> Bool {
        scalar(at: index, in: bytes, to: upper).map { isWord($0.0) } ?? false
    }

    /// The scalar starting at `index` and its length in bytes (nil at the end or on invalid UTF-8).
    static func scalar(at index: Int, in bytes: [UInt8], to upper: Int) -> (Unicode.Scalar, Int)? {
        guard index < upper else { return nil }
        let lead = bytes[index]
        let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0
        guard length > 0, index + length <= upper else { return nil }
        var decoder = UTF8()
        var iterator = bytes[index ..< index + length].makeIterator()
        guard case let .scalarValue(scalar) = decoder.decode(&iterator) else { return nil }
        return (scalar, length)
    }

    /// The scalar ending just before `index` and its length in bytes.
    static func scalar(before index: Int, in bytes: [UInt8], from lower: Int) -> (Unicode.Scalar, Int)? {
        var start = index - 1
        while start > lower, start > index - 4, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= lower, let (scalar, length) = scalar(at: start, in: bytes, to: index), start + length == index else { return nil }
        return (scalar, length)
    }
}
