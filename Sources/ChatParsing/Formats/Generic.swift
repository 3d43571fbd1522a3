/// Unknown templates: only the reasoning split (`<think>…</think>` at the start of the reply); no tool calls,
/// since without a known syntax any guess could turn ordinary text into a call.
enum GenericFormat {
    static let syntax = TaggedSyntax(reasoning: TaggedSyntax.thinkTags, blocks: [])
}
