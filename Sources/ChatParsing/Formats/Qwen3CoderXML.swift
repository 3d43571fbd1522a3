/// Qwen3-Coder's XML calls, also used by Qwen3.5 and Nemotron-3-Nano (which reason in `<think>`):
///
///     <tool_call>
///     <function=get_weather>
///     <parameter=city>
///     Paris
///     </parameter>
///     </function>
///     </tool_call>
///
/// The template writes one newline after `<parameter=…>` and one before `</parameter>`; those two are framing
/// and are removed, everything else in the value is kept. Values become JSON by `ArgumentValue`'s rule.
enum Qwen3CoderXMLFormat {
    static func syntax(thinks: Bool, types: ToolParameterTypes) -> TaggedSyntax {
        TaggedSyntax(reasoning: thinks ? TaggedSyntax.thinkTags : nil,
                     blocks: [ToolBlock(start: "<tool_call>", end: "</tool_call>", parse: { parseBlock($0, types: types) })])
    }

    /// The `<function=…>` elements of one block (usually one); nil if any is malformed.
    static func parseBlock(_ text: String, types: ToolParameterTypes) -> [ToolCall]? {
        var cursor = BlockCursor(text)
        var calls: [ToolCall] = []
        while true {
            cursor.skipWhitespace()
            if cursor.isAtEnd { break }
            guard cursor.take("<function="), let name = cursor.read(until: ">"), !name.isEmpty,
                  let body = cursor.read(until: "</function>") else { return nil }
            let functionName = String(name).trimmingWhitespace
            guard !functionName.isEmpty else { return nil }
            var params = BlockCursor(String(body))
            var pairs: [(String, String)] = []
            while params.skip(past: "<parameter=") {
                guard let key = params.read(until: ">"), let value = params.read(until: "</parameter>") else { return nil }
                pairs.append((String(key).trimmingWhitespace, String(value).removingFramingNewlines))
            }
            calls.append(ToolCall(name: functionName, arguments: ArgumentValue.objectText(tool: functionName, pairs: pairs, types: types)))
        }
        return calls.isEmpty ? nil : calls
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// Without one leading and one trailing line break (`\n` or `\r\n`).
    var removingFramingNewlines: String {
        var s = Substring(self)
        if s.hasPrefix("\n") || s.hasPrefix("\r\n") { s = s.dropFirst() }
        if s.hasSuffix("\n") || s.hasSuffix("\r\n") { s = s.dropLast() }
        return String(s)
    }
}
