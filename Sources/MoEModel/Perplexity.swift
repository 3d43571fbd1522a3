import Foundation
import MoEKernels

public struct PerplexityResult: Sendable, Codable {
    public var perplexity: Double
    /// Mean negative log-likelihood per scored token, in nats.
    public var meanNLL: Double
    public var scoredTokens: Int
    public var windows: Int
    public var window: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case perplexity, meanNLL = "mean_nll", scoredTokens = "scored_tokens", windows, window, seconds
    }
}

extension Model {
    /// Perplexity by non-overlapping windows, the method of ../shared/README.md: window k feeds tokens
    /// [w·k, w·k + w) with no earlier context and scores the predictions of tokens w·k+1 … w·k+w, so every
    /// token but the very first is scored exactly once. `progress(windowsDone, windowsTotal)` is called per window.
    /// `batch`: tokens per forward call within a window (1: one token at a time, as in decoding; the expert
    /// cache then sees requests in decode order). The result does not depend on it beyond rounding.
    public func perplexity(tokens: [Int], window: Int = 512, batch: Int? = nil, threads: Int = ThreadPool.physicalCores,
                           precision: ActivationPrecision = .f32, progress: (Int, Int) -> Void = { _, _ in }) throws -> PerplexityResult {
        guard tokens.count >= 2, window >= 1 else { throw InferenceError.emptyInput }
        let batch = min(max(1, batch ?? window), window)
        let state = InferenceState(config: config, contextLength: window, maxBatch: batch, logitRows: batch, threads: threads,
                                   precision: precision)
        let vocab = config.vocabSize
        var nll = 0.0
        var scored = 0
        let windows = (tokens.count + window - 1) / window
        let clock = ContinuousClock()
        let t0 = clock.now
        for w in 0 ..< windows {
            let start = w * window
            let chunk = Array(tokens[start ..< min(tokens.count, start + window)])
            state.reset()
            var b0 = 0
            while b0 < chunk.count {
                let piece = Array(chunk[b0 ..< min(chunk.count, b0 + batch)])
                let logits = try forward(piece, state: state, logits: .all)
                for i in 0 ..< piece.count {
                    let target = start + b0 + i + 1
                    guard target < tokens.count else { break }
                    let row = UnsafeBufferPointer(rebasing: logits[(i * vocab) ..< ((i + 1) * vocab)])
                    nll -= Self.logSoftmax(row, at: tokens[target])
                    scored += 1
                }
                b0 += piece.count
            }
            progress(w + 1, windows)
        }
        let mean = nll / Double(max(scored, 1))
        return PerplexityResult(perplexity: exp(mean), meanNLL: mean, scoredTokens: scored, windows: windows,
                                window: window, seconds: (clock.now - t0).seconds)
    }

    /// log p(index) under softmax(logits), in double precision.
    static func logSoftmax(_ logits: UnsafeBufferPointer<Float>, at index: Int) -> Double {
        var m = -Float.infinity
        for v in logits where v > m { m = v }
        var sum = 0.0
        for v in logits { sum += exp(Double(v - m)) }
        return Double(logits[index] - m) - log(sum)
    }
}
