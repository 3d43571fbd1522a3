/// Mistral (Nemo) calls: `[TOOL_CALLS]` and a JSON array running to the end of the reply, each element
/// `{"name": …, "arguments": {…}, "id": "abcDEF123"}` (the template requires 9-character ids). The newer
/// Mistral form `[TOOL_CALLS]name[ARGS]{…}` is read too. Content may come before `[TOOL_CALLS]`.
enum MistralFormat {
    static let syntax = TaggedSyntax(reasoning: nil,
                                     blocks: [ToolBlock(start: "[TOOL_CALLS]", end: nil, parse: parseBlock)])

    @Sendable static func parseBlock(_ text: String) -> [ToolCall]? {
        if let calls = JSONCalls.calls(fromSequence: text) { return calls }
        // `name[ARGS]{…}`, possibly repeated as `[TOOL_CALLS]`-less runs: name1[ARGS]{…}name2[ARGS]{…}
        var rest = Substring(text)
        var calls: [ToolCall] = []
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.isEmpty { break }
            guard let marker = rest.range(of: "[ARGS]") else { return nil }
            let name = String(rest[..<marker.lowerBound]).trimmingWhitespace
            guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "{" }),
                  let (value, after) = JSONValue.parsePrefix(rest[marker.upperBound...]),
                  let arguments = ArgumentValue.normalisedObjectText(value) else { return nil }
            calls.append(ToolCall(name: name, arguments: arguments))
            rest = after
        }
        return calls.isEmpty ? nil : calls
    }
}
