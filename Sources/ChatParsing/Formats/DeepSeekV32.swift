/// DeepSeek-V3.2's DSML calls; the `string` attribute says whether a value is a string or JSON:
///
///     <｜DSML｜function_calls>
///     <｜DSML｜invoke name="get_weather">
///     <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
///     </｜DSML｜invoke>
///     </｜DSML｜function_calls>
///
/// Reasoning is `<think>…</think>`; the generation prompt ends in `<think>` (thinking) or `<think></think>`.
enum DeepSeekV32Format {
    static func syntax(thinks: Bool, types: ToolParameterTypes) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<｜DSML｜function_calls>", end: "</｜DSML｜function_calls>",
                                        parse: { InvokeBlocks.parse($0, tagPrefix: "｜DSML｜", types: types) })])
    }
}
