import MoEModel

/// One completion for the scheduler: prompt tokens in, tokens out.
public struct CompletionRequest: Sendable {
    public var promptIds: [Int]
    public var maxTokens: Int
    public var sampling: SamplingOptions
    /// Tokens that end the completion (besides the model's end-of-text); the stop token is not emitted.
    public var stopTokenIds: Set<Int>
    public var ignoreEOS: Bool
    /// Constrain the reply to one JSON object (`JSONPrefix`): only tokens that keep it valid are chosen, and the
    /// completion ends ("eos") when the object closes.
    public var jsonObject: Bool

    public init(promptIds: [Int], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(), stopTokenIds: Set<Int> = [],
                ignoreEOS: Bool = false, jsonObject: Bool = false) {
        self.promptIds = promptIds
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokenIds = stopTokenIds
        self.ignoreEOS = ignoreEOS
        self.jsonObject = jsonObject
    }
}

/// What a submitted completion streams: its tokens as they are chosen, then one summary.
public enum CompletionEvent: Sendable {
    /// The completion has a slot; `reusedPromptTokens` of its prompt were already in the slot's cache.
    case admitted(reusedPromptTokens: Int)
    /// A chosen token and the text it completes (UTF-8 held back until a character is whole, so it may be "").
    case token(id: Int, text: String)
    case finished(CompletionSummary)
}

public struct CompletionSummary: Sendable, Codable, Equatable {
    public var promptTokens: Int
    /// Prompt tokens whose KV rows the slot still held from an earlier request (not computed again).
    public var reusedPromptTokens: Int
    public var generatedTokens: Int
    /// "eos" (end-of-text or a stop token), "max_tokens", "context_full", "cancelled" (the consumer went away
    /// or the scheduler shut down), or "error: …".
    public var stopReason: String
    /// Seconds waiting for a slot; from admission to the first token; from the first token to the last.
    public var queueSeconds: Double
    public var timeToFirstTokenSeconds: Double
    public var decodeSeconds: Double
    /// The slot that ran it.
    public var slot: Int
}

public enum SchedulerError: Error, CustomStringConvertible, Equatable {
    /// Every slot busy and the queue full: try again later (HTTP 503).
    case busy(queueLimit: Int)
    /// The prompt and max tokens do not fit a slot's context (HTTP 400).
    case tooLong(promptTokens: Int, maxTokens: Int, context: Int)
    case invalid(String)
    case shuttingDown

    public var description: String {
        switch self {
        case let .busy(limit): return "all slots are busy and \(limit) requests are waiting; try again later"
        case let .tooLong(p, m, c): return "the prompt (\(p) tokens) and max_tokens (\(m)) exceed the context of \(c) tokens"
        case let .invalid(why): return why
        case .shuttingDown: return "the server is shutting down"
        }
    }
}

/// The scheduler's counters, for /metrics and /health.
public struct SchedulerSnapshot: Sendable, Codable {
    public var slots: Int
    public var activeSlots: Int
    public var queued: Int
    public var requestsCompleted: Int
    public var requestsRefused: Int
    public var promptTokens: Int
    public var reusedPromptTokens: Int
    public var generatedTokens: Int
    /// Forward calls and the rows they carried (rows / steps = the mean batch).
    public var steps: Int
    public var rows: Int
    /// (token, expert) pairs routed and expert runs computed: routed - computed runs were saved by batching.
    public var expertsRouted: Int
    public var expertsComputed: Int
    /// Bytes of the slots' KV caches and the batch's buffers, allocated at start.
    public var stateBytes: Int
}
