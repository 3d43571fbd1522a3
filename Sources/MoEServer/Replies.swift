import ChatParsing
import Foundation
import Hummingbird
import MoEServe

/// A submitted completion's event stream, held so that exactly one consumer takes it: when that consumer
/// returns (done, a stop string, a client gone) the stream is released and the scheduler cancels the
/// completion within a step.
final class CompletionHandle: @unchecked Sendable {
    private let lock = NSLock()
    private var stream: AsyncStream<CompletionEvent>?
    let promptTokens: Int

    init(_ stream: AsyncStream<CompletionEvent>, promptTokens: Int) {
        self.stream = stream
        self.promptTokens = promptTokens
    }

    /// How a completion ended, as far as this layer saw it.
    struct Outcome {
        var completionTokens = 0
        var summary: CompletionSummary?
        var hitStopString = false
        /// From the admission event: known even when a stop string ends the completion before its summary.
        var reusedPromptTokens = 0

        /// OpenAI's finish_reason.
        func finishReason(toolCalls: Bool) -> String {
            if toolCalls { return "tool_calls" }
            if hitStopString { return "stop" }
            switch summary?.stopReason {
            case "max_tokens"?, "context_full"?: return "length"
            default: return "stop"
            }
        }

        var error: String? {
            guard let reason = summary?.stopReason, reason.hasPrefix("error") else { return nil }
            return reason
        }

        /// Usage, with the prompt tokens a slot's cache already held.
        func usage(promptTokens: Int) -> JSONValue {
            .object([("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(completionTokens)),
                     ("total_tokens", .int(promptTokens + completionTokens)),
                     ("prompt_tokens_details", .object([("cached_tokens", .int(summary?.reusedPromptTokens ?? reusedPromptTokens))]))])
        }
    }

    /// Consumes the completion, passing its text (stop strings applied) to `emit`. An error thrown by `emit`
    /// (the client went away) ends the completion and is rethrown.
    func run(stops: [String], emit: (String) async throws -> Void) async throws -> Outcome {
        let taken: AsyncStream<CompletionEvent>? = lock.withLock {
            defer { stream = nil }
            return stream
        }
        guard let taken else { return Outcome() }
        var filter = StopStringFilter(stops)
        var outcome = Outcome()
        for await event in taken {
            switch event {
            case let .admitted(reused):
                outcome.reusedPromptTokens = reused
            case let .token(id, text):
                if id >= 0 { outcome.completionTokens += 1 }
                let out = filter.feed(text)
                if !out.isEmpty { try await emit(out) }
                if filter.stopped {
                    outcome.hitStopString = true
                    return outcome   // releases the stream: the scheduler cancels the rest
                }
            case let .finished(summary):
                outcome.summary = summary
            }
        }
        let rest = filter.finish()
        if !rest.isEmpty { try await emit(rest) }
        return outcome
    }
}

/// Writes one server-sent event.
func sendEvent(_ value: JSONValue, to writer: inout any ResponseBodyWriter) async throws {
    try await writer.write(ByteBuffer(string: "data: " + value.compactText + "\n\n"))
}

func sendDone(to writer: inout any ResponseBodyWriter) async throws {
    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
}

/// A chat completion's response: whole (`chat.completion`) or as `chat.completion.chunk` events.
struct ChatReplyWriter: Sendable {
    let id: String
    let created: Int
    let model: String
    let generation: GenerationParameters

    func envelope(_ object: String, choices: [JSONValue], usage: JSONValue? = nil) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [("id", .string(id)), ("object", .string(object)), ("created", .int(created)),
                                                          ("model", .string(model)), ("system_fingerprint", .null), ("choices", .array(choices))]
        if let usage { members.append(("usage", usage)) }
        return .object(members)
    }

    static func toolCallJSON(_ call: ToolCall, index: Int?) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let index { members.append(("index", .int(index))) }
        members += [("id", .string(call.id ?? "call_" + OpenAIServer.randomId())), ("type", .string("function")),
                    ("function", .object([("name", .string(call.name)), ("arguments", .string(call.arguments))]))]
        return .object(members)
    }

    func whole(_ handle: CompletionHandle, parser: ChatStreamParser) async throws -> Response {
        var parser = parser
        var deltas: [ChatDelta] = []
        let outcome = try await handle.run(stops: generation.stop) { piece in deltas += parser.feed(piece) }
        deltas += parser.finish()
        if let error = outcome.error { throw APIError(.internalServerError, "generation failed: \(error)", type: "server_error") }
        let reply = ChatReply(deltas: deltas)
        var message: [(key: String, value: JSONValue)] = [("role", .string("assistant")),
                                                          ("content", reply.content.isEmpty && !reply.toolCalls.isEmpty ? .null : .string(reply.content))]
        if let reasoning = reply.reasoningContent { message.append(("reasoning_content", .string(reasoning))) }
        if !reply.toolCalls.isEmpty { message.append(("tool_calls", .array(reply.toolCalls.map { Self.toolCallJSON($0, index: nil) }))) }
        let choice = JSONValue.object([("index", .int(0)), ("message", .object(message)), ("logprobs", .null),
                                       ("finish_reason", .string(outcome.finishReason(toolCalls: !reply.toolCalls.isEmpty)))])
        // response_format json_object / json_schema: decoding was constrained to one JSON object (not to the
        // schema); the header says whether the content parses (a reply cut by max_tokens does not).
        var headers: HTTPFields = [:]
        if generation.wantsJSON { headers[.init("X-MoE-JSON-Valid")!] = JSONValue.parse(reply.content) != nil ? "true" : "false" }
        return jsonResponse(envelope("chat.completion", choices: [choice], usage: outcome.usage(promptTokens: handle.promptTokens)), headers: headers)
    }

    func chunk(_ delta: [(key: String, value: JSONValue)], finish: String? = nil) -> JSONValue {
        let choice = JSONValue.object([("index", .int(0)), ("delta", .object(delta)), ("logprobs", .null),
                                       ("finish_reason", finish.map(JSONValue.string) ?? .null)])
        return envelope("chat.completion.chunk", choices: [choice], usage: generation.includeUsage ? .null : nil)
    }

    func stream(_ handle: CompletionHandle, parser: ChatStreamParser, to writer: inout any ResponseBodyWriter) async throws {
        var parser = parser
        var toolCalls = 0
        func send(_ deltas: [ChatDelta], _ writer: inout any ResponseBodyWriter) async throws {
            for d in deltas {
                switch d {
                case .content(let s): try await sendEvent(chunk([("content", .string(s))]), to: &writer)
                case .reasoning(let s): try await sendEvent(chunk([("reasoning_content", .string(s))]), to: &writer)
                case .toolCall(let call):
                    try await sendEvent(chunk([("tool_calls", .array([Self.toolCallJSON(call, index: toolCalls)]))]), to: &writer)
                    toolCalls += 1
                }
            }
        }
        try await sendEvent(chunk([("role", .string("assistant")), ("content", .string(""))]), to: &writer)
        let outcome = try await handle.run(stops: generation.stop) { piece in try await send(parser.feed(piece), &writer) }
        try await send(parser.finish(), &writer)
        if let error = outcome.error {
            try await sendEvent(APIError(.internalServerError, "generation failed: \(error)", type: "server_error").json, to: &writer)
        } else {
            try await sendEvent(chunk([], finish: outcome.finishReason(toolCalls: toolCalls > 0)), to: &writer)
        }
        if generation.includeUsage {
            try await sendEvent(envelope("chat.completion.chunk", choices: [], usage: outcome.usage(promptTokens: handle.promptTokens)), to: &writer)
        }
        try await sendDone(to: &writer)
    }
}

/// A text completion's response: whole or as `text_completion` events.
struct TextReplyWriter: Sendable {
    let id: String
    let created: Int
    let model: String
    let generation: GenerationParameters
    /// The prompt, when `echo` asks for it before the completion.
    let echo: String?

    func envelope(text: String, finish: String?, usage: JSONValue?) -> JSONValue {
        let choice = JSONValue.object([("text", .string(text)), ("index", .int(0)), ("logprobs", .null),
                                       ("finish_reason", finish.map(JSONValue.string) ?? .null)])
        var members: [(key: String, value: JSONValue)] = [("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)),
                                                          ("model", .string(model)), ("system_fingerprint", .null), ("choices", .array([choice]))]
        if let usage { members.append(("usage", usage)) }
        return .object(members)
    }

    func whole(_ handle: CompletionHandle) async throws -> Response {
        var text = echo ?? ""
        let outcome = try await handle.run(stops: generation.stop) { text += $0 }
        if let error = outcome.error { throw APIError(.internalServerError, "generation failed: \(error)", type: "server_error") }
        return jsonResponse(envelope(text: text, finish: outcome.finishReason(toolCalls: false), usage: outcome.usage(promptTokens: handle.promptTokens)))
    }

    func stream(_ handle: CompletionHandle, to writer: inout any ResponseBodyWriter) async throws {
        let usageField: JSONValue? = generation.includeUsage ? .null : nil
        if let echo { try await sendEvent(envelope(text: echo, finish: nil, usage: usageField), to: &writer) }
        let outcome = try await handle.run(stops: generation.stop) { piece in
            try await sendEvent(envelope(text: piece, finish: nil, usage: usageField), to: &writer)
        }
        if let error = outcome.error {
            try await sendEvent(APIError(.internalServerError, "generation failed: \(error)", type: "server_error").json, to: &writer)
        } else {
            try await sendEvent(envelope(text: "", finish: outcome.finishReason(toolCalls: false), usage: usageField), to: &writer)
        }
        if generation.includeUsage {
            var final = envelope(text: "", finish: nil, usage: outcome.usage(promptTokens: handle.promptTokens))
            if case .object(var members) = final, let i = members.firstIndex(where: { $0.key == "choices" }) {
                members[i].value = .array([])
                final = .object(members)
            }
            try await sendEvent(final, to: &writer)
        }
        try await sendDone(to: &writer)
    }
}
