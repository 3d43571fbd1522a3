import Testing
@testable import ChatParsing

/// One reply text and what it must parse to.
struct ReplyCase: CustomTestStringConvertible, Sendable {
    let label: String
    let parser: any ChatFormatParser
    let text: String
    let expected: ChatReply

    init(_ label: String, _ parser: any ChatFormatParser, _ text: String, _ expected: ChatReply) {
        self.label = label
        self.parser = parser
        self.text = text
        self.expected = expected
    }

    var testDescription: String { label }
}

func call(_ name: String, _ arguments: String, id: String? = nil) -> ToolCall {
    ToolCall(id: id, name: name, arguments: arguments)
}

func reply(_ content: String = "", reasoning: String? = nil, calls: [ToolCall] = []) -> ChatReply {
    ChatReply(reasoningContent: reasoning, content: content, toolCalls: calls)
}

/// A small deterministic generator (SplitMix64), so random splits are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Feeds `pieces` to a fresh stream parser and adds up the deltas.
func streamed(_ parser: any ChatFormatParser, _ pieces: [String]) -> ChatReply {
    var stream = parser.makeStreamParser()
    var deltas: [ChatDelta] = []
    for piece in pieces { deltas += stream.feed(piece) }
    deltas += stream.finish()
    return ChatReply(deltas: deltas)
}

/// Every split of `text` into two pieces at each Unicode scalar boundary, one scalar at a time, and 30 random
/// splits into pieces of 1-6 scalars (fixed seed): each must add up to `parse(text)`. Returns the first split
/// that does not, with what it gave.
func firstStreamingMismatch(_ parser: any ChatFormatParser, _ text: String, seed: UInt64 = 42) -> (pieces: [String], got: ChatReply)? {
    let whole = parser.parse(text)
    let scalars = Array(text.unicodeScalars)
    func str(_ r: Range<Int>) -> String { String(String.UnicodeScalarView(scalars[r])) }
    var splits: [[String]] = []
    for cut in 0...scalars.count { splits.append([str(0..<cut), str(cut..<scalars.count)]) }
    splits.append(scalars.map { String($0) })
    var rng = SeededGenerator(state: seed)
    for _ in 0..<30 {
        var pieces: [String] = [], at = 0
        while at < scalars.count {
            let n = min(Int.random(in: 1...6, using: &rng), scalars.count - at)
            pieces.append(str(at..<at + n))
            at += n
        }
        splits.append(pieces)
    }
    for pieces in splits {
        let got = streamed(parser, pieces)
        if got != whole { return (pieces, got) }
    }
    return nil
}

/// The check every case gets: the expected parse, and the same result however the text is streamed.
func check(_ c: ReplyCase, sourceLocation: SourceLocation = #_sourceLocation) {
    let got = c.parser.parse(c.text)
    #expect(got == c.expected, "\(c.label)", sourceLocation: sourceLocation)
    if let mismatch = firstStreamingMismatch(c.parser, c.text) {
        Issue.record("\(c.label): streamed \(mismatch.pieces) gave \(mismatch.got), parse gave \(got)", sourceLocation: sourceLocation)
    }
}
