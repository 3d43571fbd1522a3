/// Hermes-style JSON calls (Qwen3, Qwen2.5, Granite 4.0), as their templates render past calls:
///
///     <tool_call>
///     {"name": "get_weather", "arguments": {"city": "Paris"}}
///     </tool_call>
///
/// one block per call, content allowed before (and between) blocks. Qwen3 reasons in `<think>…</think>`.
enum HermesFormat {
    static func syntax(thinks: Bool) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<tool_call>", end: "</tool_call>", parse: JSONCalls.calls(fromSequence:))])
    }
}
