/// Kimi-K2 and Kimi-K2-Thinking calls; the id `functions.NAME:INDEX` is kept as the call's id:
///
///     <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>
///
/// K2-Thinking reasons in `<think>…</think>` (which the model opens itself).
enum KimiK2Format {
    static func syntax(thinks: Bool) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<|tool_calls_section_begin|>", end: "<|tool_calls_section_end|>", parse: parseBlock)])
    }

    @Sendable static func parseBlock(_ text: String) -> [ToolCall]? {
        var cursor = BlockCursor(text)
        var calls: [ToolCall] = []
        while true {
            cursor.skipWhitespace()
            if cursor.isAtEnd { break }
            guard cursor.take("<|tool_call_begin|>"), let rawId = cursor.read(until: "<|tool_call_argument_begin|>"),
                  let body = cursor.read(until: "<|tool_call_end|>") else { return nil }
            let id = String(rawId).trimmingWhitespace
            // `functions.get_weather:0` → get_weather; a bare `get_weather:0` or `get_weather` is accepted too.
            var name = Substring(id)
            if name.hasPrefix("functions.") { name = name.dropFirst("functions.".count) }
            if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
            guard !name.isEmpty, let value = JSONValue.parse(String(body)),
                  let arguments = ArgumentValue.normalisedObjectText(value) else { return nil }
            calls.append(ToolCall(id: id, name: String(name), arguments: arguments))
        }
        return calls.isEmpty ? nil : calls
    }
}
