/// The `<invoke name="…"><parameter name="…">value</parameter></invoke>` shape shared by MiniMax-M2 and
/// DeepSeek-V3.2's DSML (whose tags carry a `｜DSML｜` prefix and a `string="true|false"` attribute).
enum InvokeBlocks {
    /// The invokes of one block; nil if any is malformed. `tagPrefix` is "" or "｜DSML｜".
    static func parse(_ text: String, tagPrefix: String, types: ToolParameterTypes) -> [ToolCall]? {
        var cursor = BlockCursor(text)
        var calls: [ToolCall] = []
        let invokeClose = "</\(tagPrefix)invoke>", parameterOpen = "<\(tagPrefix)parameter name=\"",
            parameterClose = "</\(tagPrefix)parameter>"
        while true {
            cursor.skipWhitespace()
            if cursor.isAtEnd { break }
            guard cursor.take("<\(tagPrefix)invoke name=\""), let name = cursor.read(until: "\""), !name.isEmpty,
                  cursor.read(until: ">") != nil, let body = cursor.read(until: invokeClose) else { return nil }
            let tool = String(name)
            guard !tool.trimmingWhitespace.isEmpty else { return nil }
            var params = BlockCursor(String(body))
            var members: [(key: String, value: JSONValue)] = []
            while params.skip(past: parameterOpen) {
                guard let key = params.read(until: "\""), let attributes = params.read(until: ">"),
                      let value = params.read(until: parameterClose) else { return nil }
                let raw = String(value)
                let json: JSONValue
                if attributes.contains("string=\"true\"") {
                    json = .string(raw)
                } else if attributes.contains("string=\"false\"") {
                    json = JSONValue.parse(raw) ?? .string(raw)
                } else {
                    json = ArgumentValue.convert(raw, declaredType: types.type(tool: tool, parameter: String(key)))
                }
                members.append((String(key), json))
            }
            calls.append(ToolCall(name: tool, arguments: JSONValue.object(members).compactText))
        }
        return calls.isEmpty ? nil : calls
    }
}
