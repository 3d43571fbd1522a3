import Foundation
import MoEFormats

/// Runs a PreTokenizerSpec: normalizes text and cuts it into the pieces BPE merges one by one.
///
/// The regex engine is ICU's (NSRegularExpression), on Unicode scalars. Swift's `Regex` would match by
/// grapheme cluster ("\r\n" is one Character) and split differently from Hugging Face; ICU works on code points
/// like the reference, knows every construct these patterns use (`\p{…}` categories and scripts, `(?i:…)`,
/// possessive quantifiers, lookahead, `&&` class intersection), and agrees with `tokenizers` on the texts we
/// test (Tests/MoETokenizerTests). A split step runs on every piece separately, so lookarounds and anchors see
/// only that piece, as in Hugging Face's `Sequence` and llama.cpp's list of regexes.
struct PreTokenizer: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable after creation and documented safe to share across threads.
    private enum Step {
        case split(NSRegularExpression, PreTokenizerSpec.SplitBehavior, invert: Bool)
        case prefixSpace
    }

    private enum Normalizer {
        case nfc, nfd, nfkc, nfkd, lowercase
        case prepend(String)
        case replace(NSRegularExpression, template: String)
        case strip(left: Bool, right: Bool)
    }

    private let steps: [Step]
    private let normalizers: [Normalizer]
    /// The common case (one regex, Isolated): the whole text in one pass, pieces as byte ranges, no copies.
    private let single: NSRegularExpression?

    var normalizes: Bool { !normalizers.isEmpty }
    /// Whether `forEachPiece` runs the single-regex fast path (else callers may walk the steps themselves).
    var isSingleSplit: Bool { single != nil }
    var stepCount: Int { steps.count }

    init(_ spec: PreTokenizerSpec) throws {
        steps = try spec.steps.map { step in
            switch step {
            case let .split(pattern, behavior, invert): return .split(try Self.compile(pattern), behavior, invert: invert)
            case .prefixSpace: return .prefixSpace
            }
        }
        normalizers = try spec.normalizers.map { normalizer in
            switch normalizer {
            case .nfc: return .nfc
            case .nfd: return .nfd
            case .nfkc: return .nfkc
            case .nfkd: return .nfkd
            case .lowercase: return .lowercase
            case let .prepend(text): return .prepend(text)
            case let .replace(pattern, content):
                return .replace(try Self.compile(pattern), template: NSRegularExpression.escapedTemplate(for: content))
            case let .strip(left, right): return .strip(left: left, right: right)
            }
        }
        if steps.count == 1, case let .split(regex, .isolated, false) = steps[0] { single = regex } else { single = nil }
    }

    private static func compile(_ pattern: PreTokenizerSpec.Pattern) throws -> NSRegularExpression {
        let source: String
        switch pattern {
        case let .regex(regex): source = regex
        case let .string(literal): source = NSRegularExpression.escapedPattern(for: literal)
        }
        do {
            return try NSRegularExpression(pattern: source)
        } catch {
            throw TokenizerError.invalidPattern(pattern: source, reason: String(describing: error))
        }
    }

    // MARK: Normalizing

    /// The text as Hugging Face's normalizers leave it, in order.
    func normalize(_ text: String) -> String {
        var text = text
        for normalizer in normalizers {
            switch normalizer {
            case .nfc: text = text.precomposedStringWithCanonicalMapping
            case .nfd: text = text.decomposedStringWithCanonicalMapping
            case .nfkc: text = text.precomposedStringWithCompatibilityMapping
            case .nfkd: text = text.decomposedStringWithCompatibilityMapping
            case .lowercase: text = text.lowercased()
            case let .prepend(prefix): if !text.isEmpty { text = prefix + text }
            case let .replace(regex, template):
                text = regex.stringByReplacingMatches(in: text, range: NSRange(location: 0, length: text.utf16.count), withTemplate: template)
            case let .strip(left, right):
                var scalars = Substring(text).unicodeScalars
                if left { scalars = scalars.drop { $0.properties.isWhitespace } }
                if right { while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() } }
                text = String(scalars)
            }
        }
        return text
    }

    // MARK: Splitting

    /// Calls `body` with the UTF-8 bytes of each piece of `text`, in order.
    func forEachPiece(of text: String, _ body: (ArraySlice<UInt8>) -> Void) {
        if let single {
            let bytes = Array(text.utf8)
            for range in Self.isolatedPieces(of: text, by: single) { body(bytes[range]) }
            return
        }
        var pieces = [text]
        for step in steps {
            var next: [String] = []
            next.reserveCapacity(pieces.count)
            for piece in pieces { apply(step, to: piece, into: &next) }
            pieces = next
        }
        for piece in pieces { body(ArraySlice(piece.utf8)) }
    }

    /// The pieces step `index` cuts `piece` into (in order, empty ones dropped).
    func apply(step index: Int, to piece: String) -> [String] {
        var pieces: [String] = []
        apply(steps[index], to: piece, into: &pieces)
        return pieces
    }

    private func apply(_ step: Step, to piece: String, into pieces: inout [String]) {
        switch step {
        case .prefixSpace:
            pieces.append(piece.hasPrefix(" ") ? piece : " " + piece)
        case let .split(regex, behavior, invert):
            // Hugging Face `Pattern::find_matches` then `SplitDelimiterBehavior`: spans (matches and the
            // stretches between them) folded by the behaviour; empty spans are dropped at the end.
            // Indices come from ICU's UTF-16 offsets: scalar boundaries, not always Character boundaries (a
            // split may fall inside an emoji ZWJ sequence), so they are made with utf16Offset and the pieces are
            // cut from the scalar view. (Range(NSRange, in:) refuses such ranges; String's subscript rounds them.)
            var spans: [(range: Range<String.Index>, isMatch: Bool)] = []
            var previous = piece.startIndex
            regex.enumerateMatches(in: piece, range: NSRange(location: 0, length: piece.utf16.count)) { match, _, _ in
                guard let match else { return }
                let lower = String.Index(utf16Offset: match.range.location, in: piece)
                let upper = String.Index(utf16Offset: match.range.location + match.range.length, in: piece)
                if lower > previous { spans.append((previous ..< lower, invert)) }
                spans.append((lower ..< upper, !invert))
                previous = upper
            }
            if previous < piece.endIndex { spans.append((previous ..< piece.endIndex, invert)) }
            for range in Self.fold(spans, behavior) where !range.isEmpty { pieces.append(String(piece.unicodeScalars[range])) }
        }
    }

    /// Hugging Face's `NormalizedString::split`, span by span.
    private static func fold(_ spans: [(range: Range<String.Index>, isMatch: Bool)],
                             _ behavior: PreTokenizerSpec.SplitBehavior) -> [Range<String.Index>] {
        var out: [Range<String.Index>] = []
        switch behavior {
        case .isolated:
            out = spans.map(\.range)
        case .removed:
            out = spans.filter { !$0.isMatch }.map(\.range)
        case .mergedWithPrevious:
            // A match joins the piece before it unless that piece was a match too.
            var previousMatch = false
            for span in spans {
                if span.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound ..< span.range.upperBound
                } else {
                    out.append(span.range)
                }
                previousMatch = span.isMatch
            }
        case .mergedWithNext:
            // The mirror image: walk backwards, a match joins the piece after it unless that was a match.
            var previousMatch = false
            for span in spans.reversed() {
                if span.isMatch && !previousMatch, let last = out.last {
                    out[out.count - 1] = span.range.lowerBound ..< last.upperBound
                } else {
                    out.append(span.range)
                }
                previousMatch = span.isMatch
            }
            out.reverse()
        case .contiguous:
            var previousMatch = false
            for span in spans {
                if span.isMatch == previousMatch, let last = out.last {
                    out[out.count - 1] = last.lowerBound ..< span.range.upperBound
                } else {
                    out.append(span.range)
                }
                previousMatch = span.isMatch
            }
        }
        return out
    }

    /// The pieces of `text` as ranges of its UTF-8 bytes, in order, covering the whole text: every match and
    /// every stretch between matches ("Isolated").
    static func isolatedPieces(of text: String, by regex: NSRegularExpression) -> [Range<Int>] {
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
            // An empty match is no piece, but it still ends the stretch before it (Hugging Face drops empty pieces).
            guard let range = match?.range else { return }
            let start = utf8Offset(atUTF16: range.location)
            if start > end { pieces.append(end ..< start) }
            end = utf8Offset(atUTF16: range.location + range.length)
            if end > start { pieces.append(start ..< end) }
        }
        let total = text.utf8.count
        if total > end { pieces.append(end ..< total) }
        return pieces
    }
}
