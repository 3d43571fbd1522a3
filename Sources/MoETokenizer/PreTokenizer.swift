import Foundation

/// Splits text into pieces with the spec's regex, on Unicode scalars.
///
/// Swift's `Regex` would match by grapheme cluster ("\r\n" is one Character) and so split differently from
/// Hugging Face; ICU's NSRegularExpression works on code points like the reference and is several times
/// faster. Text between matches (none of the usual patterns leave any) becomes a piece too, as in
/// Hugging Face's "Isolated" split.
struct PreTokenizer: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable after creation and documented safe to share across threads.
    private let regex: NSRegularExpression

    init(pattern: String) throws {
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw TokenizerError.invalidPattern(pattern: pattern, reason: String(describing: error))
        }
    }

    /// The pieces of `text` as ranges of its UTF-8 bytes, in order, covering the whole text.
    func pieces(of text: String) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        // NSRegularExpression reports UTF-16 offsets; walk the scalars once, in step with the matches,
        // to turn them into UTF-8 offsets.
        var scalars = text.unicodeScalars.makeIterator()
        var walkedUTF16 = 0, walkedUTF8 = 0
        func utf8Offset(atUTF16 target: Int) -> Int {
            while walkedUTF16 < target, let scalar = scalars.next() {
                let value = scalar.value
                walkedUTF16 += value < 0x1_0000 ? 1 : 2
                walkedUTF8 += value < 0x80 ? 1 : value < 0x800 ? 2 : value < 0x1_0000 ? 3 : 4
            }
            return walkedUTF8
        }
        var end = 0 // UTF-8 end of the last piece
        let whole = NSRange(location: 0, length: text.utf16.count)
        regex.enumerateMatches(in: text, options: [], range: whole) { match, _, _ in
            guard let range = match?.range, range.length > 0 else { return }
            let start = utf8Offset(atUTF16: range.location)
            if start > end { pieces.append(end ..< start) }
            end = utf8Offset(atUTF16: range.location + range.length)
            pieces.append(start ..< end)
        }
        let total = text.utf8.count
        if total > end { pieces.append(end ..< total) }
        return pieces
    }
}
