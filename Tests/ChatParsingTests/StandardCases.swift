@testable import ChatParsing

/// A call to write in a format's syntax: name and arguments in order.
struct SampleCall: Sendable {
    let name: String
    let arguments: [(String, JSONValue)]
    let expectedArguments: String

    /// get_weather(city: "Paris", days: 3): a string and a number, so XML formats must convert values.
    static let weather = SampleCall(name: "get_weather", arguments: [("city", .string("Paris")), ("days", .number("3"))],
                                    expectedArguments: #"{"city":"Paris","days":3}"#)
    static let time = SampleCall(name: "get_time", arguments: [("zone", .string("CET"))], expectedArguments: #"{"zone":"CET"}"#)

    /// The arguments as Python's `json.dumps` / Jinja's `tojson` writes them (", " and ": " separators).
    var tojson: String { SampleCall.tojson(.object(arguments.map { (key: $0.0, value: $0.1) })) }

    static func tojson(_ value: JSONValue) -> String {
        switch value {
        case .object(let members): return "{" + members.map { tojson(.string($0.key)) + ": " + tojson($0.value) }.joined(separator: ", ") + "}"
        case .array(let items): return "[" + items.map(tojson).joined(separator: ", ") + "]"
        default: return value.compactText
        }
    }

    /// A value as the XML templates write it: strings raw, anything else as JSON.
    static func raw(_ value: JSONValue) -> String { value.stringValue ?? tojson(value) }
}

/// How one format writes calls and reasoning, mirroring its template; from it come the standard cases every
/// format must pass.
struct FormatSample: Sendable {
    let label: String
    let format: ChatFormat
    let thinks: Bool
    /// The block(s) for these calls, as the model writes them.
    let write: @Sendable ([SampleCall]) -> String
    /// The ids the format gives these calls (nil: none).
    var ids: @Sendable ([SampleCall]) -> [String?] = { $0.map { _ in nil } }
    /// Text between content and a following call block.
    var contentSeparator = "\n"
    /// Whether content may come before a call (Llama's bare JSON call is the whole reply).
    var contentBeforeCalls = true

    func parser(startsInReasoning: Bool = false) -> any ChatFormatParser {
        format.parser(thinks: thinks, startsInReasoning: startsInReasoning)
    }

    func expectedCalls(_ calls: [SampleCall]) -> [ToolCall] {
        zip(calls, ids(calls)).map { ToolCall(id: $1, name: $0.name, arguments: $0.expectedArguments) }
    }

    /// Plain content, one call, two calls, content before a call, a call cut off part-way (→ content),
    /// and with reasoning: reasoning + content, reasoning + call, a reply that starts inside the reasoning,
    /// and unterminated reasoning.
    var standardCases: [ReplyCase] {
        let p = parser()
        let one = write([.weather]), two = write([.weather, .time])
        var cases = [
            ReplyCase("\(label): plain content", p, "It is sunny in Paris.\nEnjoy!", reply("It is sunny in Paris.\nEnjoy!")),
            ReplyCase("\(label): one call", p, one, reply(calls: expectedCalls([.weather]))),
            ReplyCase("\(label): two calls", p, two, reply(calls: expectedCalls([.weather, .time]))),
        ]
        if contentBeforeCalls {
            cases.append(ReplyCase("\(label): content before a call", p, "Let me check." + contentSeparator + one,
                                   reply("Let me check.", calls: expectedCalls([.weather]))))
        }
        // Cut at every third of the way: whatever is left must come back as content, never as a call.
        let scalars = Array(one.unicodeScalars)
        for fraction in [1, 2] {
            let cut = String(String.UnicodeScalarView(scalars[..<(scalars.count * fraction / 3)]))
            cases.append(ReplyCase("\(label): call cut at \(fraction)/3", p, cut, reply(cut.trimmingWhitespace)))
        }
        if thinks {
            cases += [
                ReplyCase("\(label): reasoning + content", p, "<think>\nThe user asks about Paris.\n</think>\n\nIt is sunny.",
                          reply("It is sunny.", reasoning: "The user asks about Paris.")),
                ReplyCase("\(label): reasoning + call", p, "<think>I need the weather.</think>\n\n" + one,
                          reply(reasoning: "I need the weather.", calls: expectedCalls([.weather]))),
                ReplyCase("\(label): reply starts in reasoning", parser(startsInReasoning: true),
                          "I need the weather.\n</think>\n\n" + one, reply(reasoning: "I need the weather.", calls: expectedCalls([.weather]))),
                ReplyCase("\(label): unterminated reasoning", p, "<think>\nStill thinking about <tool_call>",
                          reply(reasoning: "Still thinking about <tool_call>")),
                ReplyCase("\(label): empty reasoning", p, "<think>\n\n</think>\n\nHi.", reply("Hi.")),
            ]
        }
        return cases
    }
}
