/// GLM-4.5 / 4.6 / 4.7 calls: the function name, then key/value pairs (GLM-4.6 puts newlines between the
/// elements, GLM-4.7 none):
///
///     <tool_call>get_weather
///     <arg_key>city</arg_key>
///     <arg_value>Paris</arg_value>
///     </tool_call>
///
/// Values are written raw (strings) or as `tojson` (other values) and become JSON by `ArgumentValue`'s rule.
enum GLM45Format {
    static func syntax(thinks: Bool, types: ToolParameterTypes) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<tool_call>", end: "</tool_call>", parse: { parseBlock($0, types: types) })])
    }

    static func parseBlock(_ text: String, types: ToolParameterTypes) -> [ToolCall]? {
        // The name runs up to the first `<arg_key>` (or is the whole block for a call without arguments).
        let split = text.range(of: "<arg_key>")?.lowerBound ?? text.endIndex
        let name = String(text[..<split]).trimmingWhitespace
        var cursor = BlockCursor(String(text[split...]))
        // A name is one token: text with spaces or tags in it is not a call.
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" }) else { return nil }
        var pairs: [(String, String)] = []
        while true {
            cursor.skipWhitespace()
            if cursor.isAtEnd { break }
            guard cursor.take("<arg_key>"), let key = cursor.read(until: "</arg_key>") else { return nil }
            cursor.skipWhitespace()
            guard cursor.take("<arg_value>"), let value = cursor.read(until: "</arg_value>") else { return nil }
            pairs.append((String(key).trimmingWhitespace, String(value)))
        }
        return [ToolCall(name: name, arguments: ArgumentValue.objectText(tool: name, pairs: pairs, types: types))]
    }
}
