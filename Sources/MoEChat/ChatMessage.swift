import ChatParsing
import ChatTemplate
import Foundation

/// One message of a conversation, in OpenAI's chat shape (what chat templates are written against).
public struct ChatMessage: Sendable, Equatable, Codable {
    public var role: String
    public var content: String
    /// A thinking model's reasoning (templates put it back in `<think>` or drop it from past turns).
    public var reasoningContent: String?
    /// An assistant's tool calls.
    public var toolCalls: [ToolCall]?
    /// A tool result's call id and tool name.
    public var toolCallId: String?
    public var name: String?

    public init(role: String, content: String, reasoningContent: String? = nil, toolCalls: [ToolCall]? = nil,
                toolCallId: String? = nil, name: String? = nil) {
        self.role = role
        self.content = content
        self.reasoningContent = reasoningContent
        self.toolCalls = toolCalls
        self.toolCallId = toolCallId
        self.name = name
    }

    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: text) }
    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: "system", content: text) }

    enum CodingKeys: String, CodingKey {
        case role, content, name
        case reasoningContent = "reasoning_content", toolCalls = "tool_calls", toolCallId = "tool_call_id"
    }

    /// The message as a template sees it: keys in OpenAI's order; a tool call as
    /// `{type: "function", id, function: {name, arguments}}` with the arguments as a mapping (the templates
    /// print them with `tojson` or iterate them; transformers hands them over parsed), or as the text when it
    /// is not a JSON object.
    public var templateValue: JinjaValue {
        var pairs: [(String, JinjaValue)] = [("role", .string(role)), ("content", .string(content))]
        if let reasoningContent { pairs.append(("reasoning_content", .string(reasoningContent))) }
        if let toolCalls, !toolCalls.isEmpty {
            pairs.append(("tool_calls", .array(toolCalls.map { call in
                let arguments = (try? JinjaValue.parseJSON(call.arguments)).flatMap { v -> JinjaValue? in
                    if case .object = v { return v } else { return nil }
                } ?? .string(call.arguments)
                var entry: [(String, JinjaValue)] = [("type", .string("function"))]
                if let id = call.id { entry.append(("id", .string(id))) }
                entry.append(("function", .object(JinjaObject([("name", .string(call.name)), ("arguments", arguments)]))))
                return .object(JinjaObject(entry))
            })))
        }
        if let toolCallId { pairs.append(("tool_call_id", .string(toolCallId))) }
        if let name { pairs.append(("name", .string(name))) }
        return .object(JinjaObject(pairs))
    }
}

extension ToolCall: Codable {
    enum CodingKeys: String, CodingKey { case id, name, arguments }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try c.decodeIfPresent(String.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
                  arguments: try c.decode(String.self, forKey: .arguments))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(arguments, forKey: .arguments)
    }
}
