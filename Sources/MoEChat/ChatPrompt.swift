import ChatParsing
import ChatTemplate
import Foundation
import MoEFormats
import MoEModel
import MoEStore

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

extension ChatPrompt {
    /// The prompt for `model`, with the special-token texts its vocabulary spells: the template `file` when given
    /// and `fileFirst` (or when the model carries none), else the model's own (GGUF metadata or the folder's
    /// files), else ChatML — then `isDefault` is true, for the caller to say so.
    public static func forModel(_ model: Model, file: String?, fileFirst: Bool) throws -> (prompt: ChatPrompt, isDefault: Bool) {
        let tokenizer = model.tokenizer
        let bos = tokenizer.bosTokenId.flatMap { tokenizer.tokenString($0) } ?? ""
        let eos = tokenizer.eosTokenId.flatMap { tokenizer.tokenString($0) } ?? ""
        func load(_ source: String, _ origin: String) throws -> ChatPrompt {
            do { return try ChatPrompt(source: source, origin: origin, bosToken: bos, eosToken: eos) } catch {
                throw ChatError.template(origin: origin, error: error)
            }
        }
        func fromFile(_ path: String) throws -> ChatPrompt {
            guard let data = FileManager.default.contents(atPath: path) else { throw FormatError.missingFile(path: path) }
            return try load(String(decoding: data, as: UTF8.self), path)
        }
        if let file, fileFirst { return (try fromFile(file), false) }
        if let own = try model.store.chatTemplate() { return (try load(own.text, own.origin), false) }
        if let file { return (try fromFile(file), false) }
        return (try load(chatML, "ChatML (default)"), true)
    }
}
