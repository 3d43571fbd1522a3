/// Llama 3.1 calls. Custom tools: the whole reply is a JSON object (its template writes
/// `{"name": "get_weather", "parameters": {"city": "Paris"}}`), so a reply whose content begins with `{` is
/// held to the end and becomes calls when it is one or more such objects (separated by `;` or whitespace),
/// else it is content. Built-in tools: `<|python_tag|>brave_search.call(query="x")`; other text after
/// `<|python_tag|>` is code for the `python` tool, `{"code": …}`, as llama.cpp reads it.
enum Llama3Format {
    static let syntax = TaggedSyntax(reasoning: nil, blocks: [
        ToolBlock(start: "{", end: nil, onlyAtContentStart: true, startIsPayload: true, parse: parseJSONCalls),
        ToolBlock(start: "<|python_tag|>", end: nil, parse: parsePythonTag),
    ])

    /// JSON calls that name their arguments (`parameters` or `arguments`): a reply that is some other JSON
    /// object, say `{"name": "Bob"}` asked for by the user, is not a call.
    @Sendable static func parseJSONCalls(_ text: String) -> [ToolCall]? {
        var rest = Substring(text)
        var calls: [ToolCall] = []
        while true {
            rest = rest.drop { $0.isWhitespace || $0 == ";" }
            if rest.isEmpty { break }
            guard let (value, after) = JSONValue.parsePrefix(rest), value["parameters"] != nil || value["arguments"] != nil,
                  let call = JSONCalls.call(from: value) else { return nil }
            calls.append(call)
            rest = after
        }
        return calls.isEmpty ? nil : calls
    }

    @Sendable static func parsePythonTag(_ text: String) -> [ToolCall]? {
        let code = text.trimmingWhitespace
        if code.hasPrefix("{") { return parseJSONCalls(code) }
        if let calls = PythonCalls.calls(fromList: code), calls.allSatisfy({ !$0.name.contains(".") }) { return calls }
        guard !code.isEmpty else { return nil }
        return [ToolCall(name: "python", arguments: JSONValue.object([("code", .string(code))]).compactText)]
    }
}
