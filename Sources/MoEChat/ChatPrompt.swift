import ChatParsing
import ChatTemplate
import Foundation

/// A model's chat template with what rendering it needs: the special-token texts it prints and the reply
/// format it implies (which parser splits reasoning and tool calls out of a reply).
public struct ChatPrompt: Sendable {
    public let template: ChatTemplate
    /// Where the template came from (a model's metadata, a file, or the ChatML default).
    public let origin: String
    public let format: DetectedChatFormat
    /// `bos_token` / `eos_token` as the template prints them (the vocabulary's texts).
    public var bosToken: String
    public var eosToken: String

    /// ChatML (`<|im_start|>role\n…<|im_end|>\n`): what runs when a model carries no template.
    public static let chatML = """
    {%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}\
    {%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}
    """

    public init(source: String, origin: String, bosToken: String = "", eosToken: String = "") throws {
        template = try ChatTemplate(source: source)
        self.origin = origin
        format = DetectedChatFormat(templateSource: source)
        self.bosToken = bosToken
        self.eosToken = eosToken
    }

    /// The prompt for `messages`: with `addGenerationPrompt` it ends where the assistant's reply begins.
    /// `variables` adds template keywords (`enable_thinking`, `reasoning_effort`, …); `now` is what
    /// `strftime_now` sees (default: the clock).
    public func render(messages: [ChatMessage], tools: JinjaValue? = nil, addGenerationPrompt: Bool = true,
                       variables: [String: JinjaValue] = [:], now: Date? = nil) throws -> String {
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map(\.templateValue)),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        if let tools { context["tools"] = tools }
        for (k, v) in variables { context[k] = v }
        return try template.render(context, now: now)
    }

    /// The parser for the reply to `renderedPrompt` (which may already have opened the reasoning);
    /// `toolsJSON`, the request's tools, tells string parameters from JSON ones in XML-parameter formats.
    public func replyParser(renderedPrompt: String, toolsJSON: String? = nil) -> any ChatFormatParser {
        format.parser(startsInReasoning: format.thinks && ChatFormat.promptOpensReasoning(renderedPrompt),
                      toolTypes: toolsJSON.map { ToolParameterTypes(toolsJSON: $0) } ?? ToolParameterTypes())
    }
}
