/// LFM2 calls: a Python-style list between `<|tool_call_start|>` and `<|tool_call_end|>`, or the JSON list
/// llama.cpp asks for with "force json schema":
///
///     <|tool_call_start|>[get_weather(city="Paris", unit="c")]<|tool_call_end|>
///     <|tool_call_start|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|tool_call_end|>
///
/// (The template shipped here renders no past calls at all; the syntax is LFM2's documented one.)
enum LFM2Format {
    static let syntax = TaggedSyntax(reasoning: nil,
                                     blocks: [ToolBlock(start: "<|tool_call_start|>", end: "<|tool_call_end|>", parse: parseBlock)])

    @Sendable static func parseBlock(_ text: String) -> [ToolCall]? {
        PythonCalls.calls(fromList: text) ?? JSONCalls.calls(fromSequence: text)
    }
}
