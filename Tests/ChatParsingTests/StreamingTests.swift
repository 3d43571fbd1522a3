import Foundation
import Testing
@testable import ChatParsing

struct StreamingTests {
    @Test func holdsBackAPossibleClosingTag() {
        var s = ChatFormat.hermes.parser(thinks: true).makeStreamParser()
        #expect(s.feed("<think>abc</thi") == [.reasoning("abc")])
        #expect(s.feed("nk>Hello") == [.content("Hello")])
        #expect(s.finish() == [])
    }

    @Test func emitsReasoningAsItArrives() {
        var s = ChatFormat.qwen3CoderXML.parser(thinks: true, startsInReasoning: true).makeStreamParser()
        #expect(s.feed("\nFirst") == [.reasoning("First")])
        #expect(s.feed(" second\n") == [.reasoning(" second")])   // the trailing newline waits
        #expect(s.feed("</think>\n\nDone") == [.content("Done")])
        #expect(s.finish() == [])
    }

    @Test func emitsACallWhenItsBlockCloses() {
        var s = ChatFormat.hermes.parser(thinks: false).makeStreamParser()
        #expect(s.feed("Hi <tool_ca") == [.content("Hi")])
        #expect(s.feed("ll>{\"name\":\"a\",\"arguments\":{}}") == [])
        #expect(s.feed("</tool_call>") == [.toolCall(call("a", "{}"))])
        #expect(s.feed(" bye") == [.content("  bye")])
        #expect(s.finish() == [])
        #expect(s.feed("more") == [])
    }

    @Test func callsThatRunToTheEndComeAtFinish() {
        var s = ChatFormat.mistral.parser(thinks: false).makeStreamParser()
        #expect(s.feed("[TOOL_CALLS][{\"name\": \"a\", \"arguments\": {}, \"id\": \"abcdefghi\"}]") == [])
        #expect(s.finish() == [.toolCall(call("a", "{}", id: "abcdefghi"))])
    }

    @Test func aTagLikeTextThatIsNoTagIsReleased() {
        var s = ChatFormat.hermes.parser(thinks: false).makeStreamParser()
        #expect(s.feed("a <tool") == [.content("a")])
        #expect(s.feed("s>") == [.content(" <tools>")])
    }

    /// Long replies stream in linear time: 300 KB inside one call's arguments and 300 KB of content, fed in
    /// 4-byte pieces (quadratic rescanning would take minutes).
    @Test func longRepliesStreamInLinearTime() {
        let long = String(repeating: "abcdefghij ", count: 30_000)
        let texts: [(ChatFormat, String)] = [
            (.qwen3CoderXML, "<tool_call>\n<function=write>\n<parameter=text>\n\(long)\n</parameter>\n</function>\n</tool_call>"),
            (.harmony, "<|channel|>commentary to=functions.write <|constrain|>json<|message|>{\"text\": \"\(long)\"}<|call|>"),
            (.hermes, long + "<tool_call>{\"name\":\"f\",\"arguments\":{}}</tool_call>"),
        ]
        for (format, text) in texts {
            let bytes = Array(text.utf8)
            let pieces = stride(from: 0, to: bytes.count, by: 4).map { String(decoding: bytes[$0..<min($0 + 4, bytes.count)], as: UTF8.self) }
            let start = Date()
            let got = streamed(format.parser(thinks: false), pieces)
            #expect(Date().timeIntervalSince(start) < 20, "\(format)")
            #expect(got.toolCalls.count == 1, "\(format)")
        }
    }
}

/// Mutations of well-formed replies (cuts, splices, deletions, duplicated spans, stray markers, non-ASCII text):
/// every parser must survive them, and streaming must agree with `parse` on each. Fixed seed.
struct StreamingFuzzTests {
    static let extras = ["é", "😀", "｜", "▁", "\r\n", "e\u{301}", "<", ">", "|", "{", "}", "\"", " ", "\n", "<think>", "</think>",
                         "<|end|>", "<|start|>", "<|message|>", "[", "]", "="]

    static func mutate(_ samples: [String], _ rng: inout SeededGenerator) -> String {
        var scalars = Array(samples.randomElement(using: &rng)!.unicodeScalars)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let i = Int.random(in: 0...scalars.count, using: &rng), j = Int.random(in: i...scalars.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: scalars = Array(scalars[..<i])                                           // cut
            case 1: scalars.removeSubrange(i..<j)                                            // delete a span
            case 2: scalars.insert(contentsOf: scalars[i..<j], at: j)                        // duplicate a span
            case 3: scalars.insert(contentsOf: extras.randomElement(using: &rng)!.unicodeScalars, at: i)
            default:                                                                         // splice two samples
                let other = Array(samples.randomElement(using: &rng)!.unicodeScalars)
                scalars = Array(scalars[..<i]) + other[Int.random(in: 0...other.count, using: &rng)...]
            }
        }
        return String(String.UnicodeScalarView(scalars))
    }

    @Test(arguments: FormatSamples.all.map(\.label))
    func mutatedRepliesStreamLikeTheyParse(_ label: String) {
        let sample = FormatSamples.all.first { $0.label == label }!
        let samples = sample.standardCases.map(\.text)
        var rng = SeededGenerator(state: 7)
        for round in 0..<60 {
            let text = Self.mutate(samples, &rng)
            for parser in [sample.parser(), sample.parser(startsInReasoning: true)] {
                if let mismatch = firstStreamingMismatch(parser, text, seed: UInt64(round)) {
                    Issue.record("\(label) round \(round): \(text.debugDescription) streamed as \(mismatch.pieces) gave \(mismatch.got), parse gave \(parser.parse(text))")
                    return
                }
            }
        }
    }
}
