import Foundation
import MoEKernels
import MoETokenizer

public struct GenerationOptions: Sendable {
    public var maxTokens: Int = 128
    public var sampling = SamplingOptions()
    /// Keep generating past end-of-text (the golden continuations were made this way).
    public var ignoreEOS = false
    /// Threads of the forward pass (clamped to 1 ... active processors); used when no state is given.
    public var threads = ThreadPool.physicalCores
    /// Float or 8-bit activations (used when no state is given).
    public var precision = ActivationPrecision.f32
    /// Routing forced from a trace (benchmark mode; used when no state is given).
    public var forcedRouting: ForcedRouting?
    /// Tokens that end the reply besides the end-of-text token (a chat template's end of turn, e.g.
    /// `<|im_end|>`); the stop token is not part of the text. Ignored with `ignoreEOS`.
    public var stopTokenIds: Set<Int> = []
    /// Asked before each token: true ends generation with stop reason "cancelled" (Ctrl-C, a client gone).
    public var isCancelled: (@Sendable () -> Bool)?
    public init(maxTokens: Int = 128, sampling: SamplingOptions = SamplingOptions(), ignoreEOS: Bool = false,
                threads: Int = ThreadPool.physicalCores, precision: ActivationPrecision = .f32) {
        self.threads = threads
        self.precision = precision
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.ignoreEOS = ignoreEOS
    }
}

public struct GenerationStats: Sendable, Codable {
    public var promptTokens: Int
    /// Prompt tokens whose keys and values were reused from the previous prompt (`PromptCache`), not computed.
    public var reusedPromptTokens = 0
    public var generatedTokens: Int
    /// Wall seconds spent on the prompt (prefill) and on generating tokens (decode).
    public var promptSeconds: Double
    public var decodeSeconds: Double
    /// Forward steps of the decode (the first token is chosen from the prompt's logits, so one fewer than the
    /// tokens generated, or as many when the last one was fed back).
    public var decodeSteps = 0
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Decode steps per second; nil under two steps (one token is not a rate).
    public var decodeTokensPerSecond: Double? { decodeSteps >= 2 && decodeSeconds > 0 ? Double(decodeSteps) / decodeSeconds : nil }
    public var stopReason: String

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", reusedPromptTokens = "prompt_tokens_reused", generatedTokens = "generated_tokens"
        case promptSeconds = "prompt_seconds", decodeSeconds = "decode_seconds"
        case promptTokensPerSecond = "prompt_tokens_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
        case stopReason = "stop_reason"
    }
    public func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(reusedPromptTokens, forKey: .reusedPromptTokens)
        try c.encode(generatedTokens, forKey: .generatedTokens)
        try c.encode(promptSeconds, forKey: .promptSeconds)
        try c.encode(decodeSeconds, forKey: .decodeSeconds)
        try c.encode(promptTokensPerSecond, forKey: .promptTokensPerSecond)
        try c.encode(decodeTokensPerSecond, forKey: .decodeTokensPerSecond)
        try c.encode(stopReason, forKey: .stopReason)
    }
    public init(promptTokens: Int, generatedTokens: Int, promptSeconds: Double, decodeSeconds: Double, stopReason: String) {
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.promptSeconds = promptSeconds
        self.decodeSeconds = decodeSeconds
        self.stopReason = stopReason
    }
    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        promptTokens = try c.decode(Int.self, forKey: .promptTokens)
        reusedPromptTokens = try c.decodeIfPresent(Int.self, forKey: .reusedPromptTokens) ?? 0
        generatedTokens = try c.decode(Int.self, forKey: .generatedTokens)
        promptSeconds = try c.decode(Double.self, forKey: .promptSeconds)
        decodeSeconds = try c.decode(Double.self, forKey: .decodeSeconds)
        stopReason = try c.decode(String.self, forKey: .stopReason)
    }
}

public struct GenerationResult: Sendable {
    public var tokenIds: [Int]
    public var text: String
    public var stats: GenerationStats
}

extension Model {
    /// Generates a continuation of `prompt`, calling `onText` with each piece of text as soon as it is complete.
    public func generate(prompt: String, options: GenerationOptions, state: InferenceState? = nil,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        let ids = tokenizer.encodePrompt(prompt)
        return try generate(promptIds: ids, options: options, state: state, onText: onText)
    }

    public func generate(promptIds: [Int], options: GenerationOptions, state given: InferenceState? = nil,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        guard !promptIds.isEmpty else { throw InferenceError.emptyInput }
        let needed = promptIds.count + options.maxTokens
        let state = given ?? InferenceState(config: config, contextLength: min(needed, max(config.maxPositions, promptIds.count + 1)),
                                            maxBatch: min(512, promptIds.count), threads: options.threads,
                                            precision: options.precision)
        if given == nil { state.forcedRouting = options.forcedRouting }
        // A given state goes on from where it is (its earlier tokens are context); nothing is reused or rewound.
        return try run(promptIds: promptIds, options: options, state: state, cache: nil, onText: onText)
    }

    /// Generates a reply to `promptIds` in `cache`'s state, first rewinding it to the longest prefix it shares
    /// with the tokens it holds, so that only the rest of the prompt is computed (`stats.reusedPromptTokens`).
    /// Afterwards the cache holds the prompt and the reply's tokens that were computed.
    public func generate(promptIds: [Int], options: GenerationOptions, cache: PromptCache,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        guard !promptIds.isEmpty else { throw InferenceError.emptyInput }
        return try run(promptIds: promptIds, options: options, state: cache.state, cache: cache, onText: onText)
    }

    private func run(promptIds: [Int], options: GenerationOptions, state: InferenceState, cache: PromptCache?,
                     onText: (String) -> Void) throws -> GenerationResult {
        var sampler = Sampler(options: options.sampling)
        var streamer = UTF8StreamDecoder()
        var history = promptIds
        var produced: [Int] = []
        var text = ""
        var stops = options.stopTokenIds
        if let eos = config.eosTokenId ?? tokenizer.eosTokenId { stops.insert(eos) }
        let clock = ContinuousClock()

        let t0 = clock.now
        let reused = cache?.reuse(for: promptIds) ?? 0
        let fresh = promptIds[reused...]
        var logits = try forward(Array(fresh), state: state, logits: .last)
        cache?.appended(fresh)
        let promptSeconds = (clock.now - t0).seconds
        var stopReason = "max_tokens"
        var decodeSteps = 0
        let t1 = clock.now
        while produced.count < options.maxTokens {
            if options.isCancelled?() == true { stopReason = "cancelled"; break }
            let next = sampler.sample(logits, history: history)
            produced.append(next)
            history.append(next)
            if stops.contains(next), !options.ignoreEOS { stopReason = "eos"; break }
            let piece = streamer.decode(tokenizer.decodeBytes([next]))
            if !piece.isEmpty { text += piece; onText(piece) }
            if produced.count == options.maxTokens { break }
            if state.position >= state.contextLength { stopReason = "context_full"; break }
            logits = try forward([next], state: state, logits: .last)
            cache?.appended(CollectionOfOne(next))
            decodeSteps += 1
        }
        let rest = streamer.finish()
        if !rest.isEmpty { text += rest; onText(rest) }
        var stats = GenerationStats(promptTokens: promptIds.count, generatedTokens: produced.count,
                                    promptSeconds: promptSeconds, decodeSeconds: (clock.now - t1).seconds, stopReason: stopReason)
        stats.reusedPromptTokens = reused
        stats.decodeSteps = decodeSteps
        return GenerationResult(tokenIds: produced, text: text, stats: stats)
    }
}
