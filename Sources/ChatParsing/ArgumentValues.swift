/// The declared JSON Schema types of tool parameters: tool name → parameter name → type ("string", "integer",
/// "number", "boolean", "array", "object", "null"). XML-parameter formats write every value as bare text; the
/// declared type decides whether `42` means the number 42 or the string "42".
public struct ToolParameterTypes: Sendable, Equatable {
    public var types: [String: [String: String]]

    public init(_ types: [String: [String: String]] = [:]) { self.types = types }

    /// From the OpenAI-style `tools` array text (`[{"type":"function","function":{"name":…,"parameters":{…}}}]`);
    /// entries it cannot read are skipped. A parameter whose `type` is a list (`["string","null"]`) takes its
    /// first non-null entry.
    public init(toolsJSON: String) {
        var types: [String: [String: String]] = [:]
        if case .array(let tools)? = JSONValue.parse(toolsJSON) {
            for tool in tools {
                let function = tool["function"] ?? tool
                guard let name = function["name"]?.stringValue,
                      case .object(let properties)? = function["parameters"]?["properties"] else { continue }
                var parameters: [String: String] = [:]
                for (key, schema) in properties {
                    switch schema["type"] {
                    case .string(let t)?: parameters[key] = t
                    case .array(let list)?:
                        parameters[key] = list.compactMap(\.stringValue).first { $0 != "null" } ?? "null"
                    default: break
                    }
                }
                types[name] = parameters
            }
        }
        self.types = types
    }

    public func type(tool: String, parameter: String) -> String? { types[tool]?[parameter] }
}

/// How a bare-text parameter value (Qwen3-Coder `<parameter=k>`, GLM `<arg_value>`, MiniMax / DeepSeek-V3.2
/// `<parameter name="k">`) becomes a JSON value:
/// - declared type "string" → that text as a JSON string, always;
/// - declared as another type → the text parsed as JSON when it parses, else a JSON string (never dropped);
///   a declared boolean also accepts Python's `True` / `False`;
/// - no declaration → a text that parses as a JSON number, boolean, null, object or array stays that value,
///   anything else (including a quoted `"…"` JSON string literal) is the text as a JSON string.
/// This follows what the templates do when they render past calls: strings raw, other values as `tojson`.
enum ArgumentValue {
    static func convert(_ text: String, declaredType: String?) -> JSONValue {
        if declaredType == "string" { return .string(text) }
        // Qwen3-Coder's template writes booleans with Jinja's `string` filter, i.e. Python's `True` / `False`.
        if declaredType == "boolean", ["true", "false"].contains(text.lowercased()) { return .bool(text.lowercased() == "true") }
        guard let parsed = JSONValue.parse(text) else { return .string(text) }
        if declaredType == nil, case .string = parsed { return .string(text) }
        return parsed
    }

    /// The arguments object text from (name, bare value) pairs in written order.
    static func objectText(tool: String, pairs: [(String, String)], types: ToolParameterTypes) -> String {
        JSONValue.object(pairs.map { (key: $0.0, value: convert($0.1, declaredType: types.type(tool: tool, parameter: $0.0))) })
            .compactText
    }

    /// JSON arguments from a JSON-carrying format: an object stays (re-serialised compactly); a string that holds
    /// an object's text (some models double-encode) is unwrapped; anything else is not a valid call (nil).
    static func normalisedObjectText(_ value: JSONValue) -> String? {
        switch value {
        case .object: return value.compactText
        case .string(let inner):
            if let object = JSONValue.parse(inner), object.isObject { return object.compactText }
            return nil
        default: return nil
        }
    }
}
