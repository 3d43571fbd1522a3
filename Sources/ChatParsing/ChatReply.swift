/// A model's reply split the way OpenAI's chat API carries it: hidden reasoning, visible content, tool calls.
public struct ChatReply: Sendable, Equatable, CustomStringConvertible {
    /// The reasoning ("thinking") text, trimmed; nil when the reply had none (or only whitespace).
    public var reasoningContent: String?
    /// The visible text, trimmed, with tool-call blocks cut out (a malformed block stays in as text).
    public var content: String
    public var toolCalls: [ToolCall]

    public init(reasoningContent: String? = nil, content: String = "", toolCalls: [ToolCall] = []) {
        self.reasoningContent = reasoningContent
        self.content = content
        self.toolCalls = toolCalls
    }

    /// The reply that a stream of deltas adds up to: text deltas concatenated per channel, tool calls in order.
    public init(deltas: [ChatDelta]) {
        var reasoning = "", content = "", calls: [ToolCall] = []
        for delta in deltas {
            switch delta {
            case .reasoning(let text): reasoning += text
            case .content(let text): content += text
            case .toolCall(let call): calls.append(call)
            }
        }
        self.init(reasoningContent: reasoning.isEmpty ? nil : reasoning, content: content, toolCalls: calls)
    }

    public var description: String {
        "ChatReply(reasoning: \(reasoningContent.map { "\"\($0)\"" } ?? "nil"), content: \"\(content)\", toolCalls: \(toolCalls))"
    }
}

/// One function call requested by the model.
public struct ToolCall: Sendable, Equatable, CustomStringConvertible {
    /// The id when the format carries one (Kimi-K2's `functions.NAME:0`, Mistral's 9-character id), else nil.
    public var id: String?
    public var name: String
    /// The arguments as compact JSON text of an object, as OpenAI's API carries them (`{"city":"Paris"}`).
    public var arguments: String

    public init(id: String? = nil, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }

    public var description: String { "\(name)(\(arguments))" + (id.map { " id \($0)" } ?? "") }
}

/// What a streaming parser emits as text arrives. Text deltas are final: once emitted, never taken back.
public enum ChatDelta: Sendable, Equatable {
    case reasoning(String)
    case content(String)
    /// A complete tool call (emitted when its block closes, or at the end for formats without a closing tag).
    case toolCall(ToolCall)
}

/// Parses a whole reply. Never throws and never traps: what cannot be parsed comes back as content.
public protocol ChatFormatParser: Sendable {
    func parse(_ text: String) -> ChatReply
    /// A fresh incremental parser for one reply; its deltas add up to `parse(fullText)` however the text is split.
    func makeStreamParser() -> ChatStreamParser
}

extension ChatFormatParser {
    /// Parsing is streaming with a single piece: one code path, so the two cannot disagree.
    public func parse(_ text: String) -> ChatReply {
        var stream = makeStreamParser()
        var deltas = stream.feed(text)
        deltas += stream.finish()
        return ChatReply(deltas: deltas)
    }
}
