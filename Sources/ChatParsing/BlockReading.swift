import Foundation

/// A cursor over a tool-call block's text, for the block parsers: literal expectations and reads up to a
/// delimiter. Every read that fails returns nil, and the block parser then gives up on the whole block.
struct BlockCursor {
    private(set) var rest: Substring

    init(_ text: String) { rest = Substring(text) }

    var isAtEnd: Bool { rest.isEmpty }

    mutating func skipWhitespace() { rest = rest.drop { $0.isWhitespace } }

    /// Consumes `literal` when the text continues with it.
    mutating func take(_ literal: String) -> Bool {
        guard rest.hasPrefix(literal) else { return false }
        rest = rest.dropFirst(literal.count)
        return true
    }

    /// The text up to `delimiter`, consuming both; nil when the delimiter never comes.
    mutating func read(until delimiter: String) -> Substring? {
        guard let range = rest.range(of: delimiter) else { return nil }
        let text = rest[..<range.lowerBound]
        rest = rest[range.upperBound...]
        return text
    }

    /// Skips to just after the next `literal`; false when there is none.
    mutating func skip(past literal: String) -> Bool { read(until: literal) != nil }
}

/// Calls written as JSON objects (`{"name": …, "arguments": {…}}`), the common shape of Hermes, Mistral, Llama 3.1
/// and LFM2's JSON mode.
enum JSONCalls {
    /// One call from an object with a string `name` and an object (or object-text) `arguments` / `parameters`;
    /// a call without arguments gets `{}`. Also reads OpenAI's nested `{"function": {"name", "arguments"}}`.
    static func call(from value: JSONValue) -> ToolCall? {
        if let function = value["function"], function.isObject, value["name"] == nil {
            guard var call = call(from: function) else { return nil }
            call.id = value["id"]?.stringValue
            return call
        }
        guard value.isObject, let name = value["name"]?.stringValue, !name.isEmpty else { return nil }
        let arguments: String
        if let args = value["arguments"] ?? value["parameters"] {
            guard let text = ArgumentValue.normalisedObjectText(args) else { return nil }
            arguments = text
        } else {
            arguments = "{}"
        }
        return ToolCall(id: value["id"]?.stringValue, name: name, arguments: arguments)
    }

    /// Calls from a sequence of JSON values separated by whitespace, commas or semicolons, where each value is a
    /// call object or an array of them. Nil when anything in the text is not a valid call.
    static func calls(fromSequence text: String) -> [ToolCall]? {
        var rest = Substring(text)
        var calls: [ToolCall] = []
        while true {
            rest = rest.drop { $0.isWhitespace || $0 == "," || $0 == ";" }
            if rest.isEmpty { break }
            guard let (value, after) = JSONValue.parsePrefix(rest) else { return nil }
            switch value {
            case .array(let items):
                for item in items {
                    guard let call = call(from: item) else { return nil }
                    calls.append(call)
                }
            default:
                guard let call = call(from: value) else { return nil }
                calls.append(call)
            }
            rest = after
        }
        return calls.isEmpty ? nil : calls
    }
}
