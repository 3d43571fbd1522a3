/// DeepSeek-V3.1 calls (its template writes them exactly so):
///
///     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>
///
/// Also read: the older V3 / R1 body `function<｜tool▁sep｜>NAME\n```json\n{…}\n```` inside the same tags.
/// Reasoning is `<think>…</think>`; the generation prompt ends in `<think>` (thinking) or `<think></think>`.
enum DeepSeekV31Format {
    static func syntax(thinks: Bool) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<｜tool▁calls▁begin｜>", end: "<｜tool▁calls▁end｜>", parse: parseBlock)])
    }

    @Sendable static func parseBlock(_ text: String) -> [ToolCall]? {
        var cursor = BlockCursor(text)
        var calls: [ToolCall] = []
        while true {
            cursor.skipWhitespace()
            if cursor.isAtEnd { break }
            guard cursor.take("<｜tool▁call▁begin｜>"), let head = cursor.read(until: "<｜tool▁sep｜>"),
                  let body = cursor.read(until: "<｜tool▁call▁end｜>") else { return nil }
            var name = String(head).trimmingWhitespace
            var argumentsText = String(body)
            if name == "function", let fence = argumentsText.range(of: "```json") {
                // V3 / R1: the name is on the line after the separator, the arguments in a json fence.
                name = String(argumentsText[..<fence.lowerBound]).trimmingWhitespace
                var fenced = BlockCursor(String(argumentsText[fence.upperBound...]))
                guard let inner = fenced.read(until: "```") else { return nil }
                argumentsText = String(inner)
            }
            guard !name.isEmpty, let value = JSONValue.parse(argumentsText),
                  let arguments = ArgumentValue.normalisedObjectText(value) else { return nil }
            calls.append(ToolCall(name: name, arguments: arguments))
        }
        return calls.isEmpty ? nil : calls
    }
}
