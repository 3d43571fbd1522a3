/// MiniMax-M2 calls (the model reasons in `<think>`, which its generation prompt opens):
///
///     <minimax:tool_call>
///     <invoke name="get_weather">
///     <parameter name="city">Paris</parameter>
///     </invoke>
///     </minimax:tool_call>
enum MiniMaxM2Format {
    static func syntax(thinks: Bool, types: ToolParameterTypes) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<minimax:tool_call>", end: "</minimax:tool_call>",
                                        parse: { InvokeBlocks.parse($0, tagPrefix: "", types: types) })])
    }
}
