import ChatParsing
import ChatTemplate
import Foundation
import MoEKernels
import MoEModel
import MoETokenizer

/// One finished turn: the parsed reply, the prompt it answered, and the generation statistics (including how
/// much of the prompt was reused from the previous turn's KV cache).
public struct ChatTurn: Sendable {
    public var reply: ChatReply
    /// The reply's text as generated, before parsing (special tokens of the format included).
    public var rawText: String
    public var prompt: String
    public var stats: GenerationStats
}

public enum ChatError: Error, CustomStringConvertible {
    case promptTooLong(tokens: Int, maxTokens: Int, context: Int)
    case template(origin: String, error: Error)

    public var description: String {
        switch self {
        case let .promptTooLong(tokens, maxTokens, context):
            return "the conversation is \(tokens) tokens; with --max-tokens \(maxTokens) it exceeds the context of \(context) (/clear starts over)"
        case let .template(origin, error):
            return "chat template \(origin): \(error)"
        }
    }
}

/// A conversation with a model: its messages, rendered through the model's chat template for each turn, and a
/// prompt cache so that a turn computes only what the previous turns did not (the history's tokens are reused).
public final class ChatSession {
    public let model: Model
    public let prompt: ChatPrompt
    public private(set) var messages: [ChatMessage] = []
    /// Keywords for the template (`enable_thinking: false` for --no-think, `reasoning_effort`, …).
    public var variables: [String: JinjaValue] = [:]
    /// OpenAI-style tool definitions given to the template, and their JSON text for the reply parser.
    public var tools: JinjaValue?
    public var toolsJSON: String?
    /// `strftime_now`'s date (nil: the clock).
    public var now: Date?
    let cache: PromptCache

    public init(model: Model, prompt: ChatPrompt, contextLength: Int, threads: Int, precision: ActivationPrecision) {
        self.model = model
        self.prompt = prompt
        let context = max(2, min(contextLength, model.config.maxPositions))
        cache = PromptCache(state: InferenceState(config: model.config, contextLength: context, maxBatch: min(512, context),
                                                  threads: threads, precision: precision))
    }

    public var contextLength: Int { cache.state.contextLength }

    /// Starts over: no messages (a system message can be added again), nothing cached.
    public func clear() {
        messages.removeAll()
        cache.clear()
    }

    public func append(_ message: ChatMessage) { messages.append(message) }

    /// The prompt that the next turn would send.
    public func renderedPrompt() throws -> String {
        do {
            return try prompt.render(messages: messages, tools: tools, addGenerationPrompt: true, variables: variables, now: now)
        } catch {
            throw ChatError.template(origin: prompt.origin, error: error)
        }
    }

    /// Adds `message` (a user turn or a tool result) and generates the assistant's reply, streaming what the
    /// reply parser emits to `onDelta`. The reply is appended to the conversation. If generation fails,
    /// the conversation is as before.
    public func send(_ message: ChatMessage, options: GenerationOptions, onDelta: (ChatDelta) -> Void = { _ in }) throws -> ChatTurn {
        messages.append(message)
        do {
            let turn = try reply(options: options, onDelta: onDelta)
            messages.append(ChatMessage(role: "assistant", content: turn.reply.content, reasoningContent: turn.reply.reasoningContent,
                                        toolCalls: turn.reply.toolCalls.isEmpty ? nil : turn.reply.toolCalls))
            return turn
        } catch {
            messages.removeLast()
            throw error
        }
    }

    /// Generates the assistant's reply to the conversation as it stands (not appended).
    public func reply(options: GenerationOptions, onDelta: (ChatDelta) -> Void = { _ in }) throws -> ChatTurn {
        let text = try renderedPrompt()
        // As transformers' apply_chat_template: the template writes the special tokens (BOS included) as text,
        // which the tokenizer parses; none is added.
        let ids = model.tokenizer.encode(text, parseSpecial: true)
        guard ids.count + options.maxTokens <= contextLength else {
            throw ChatError.promptTooLong(tokens: ids.count, maxTokens: options.maxTokens, context: contextLength)
        }
        var options = options
        options.stopTokenIds.formUnion(model.tokenizer.endOfGenerationIds)
        var parser = prompt.replyParser(renderedPrompt: text, toolsJSON: toolsJSON).makeStreamParser()
        var deltas: [ChatDelta] = []
        let result = try model.generate(promptIds: ids, options: options, cache: cache) { piece in
            for d in parser.feed(piece) { deltas.append(d); onDelta(d) }
        }
        for d in parser.finish() { deltas.append(d); onDelta(d) }
        return ChatTurn(reply: ChatReply(deltas: deltas), rawText: result.text, prompt: text, stats: result.stats)
    }
}
