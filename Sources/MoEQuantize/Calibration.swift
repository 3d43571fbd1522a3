import Foundation
import MoEFormats
import MoEModel
import MoETokenizer

/// Importance weights for rounding, from the activations a calibration text produces: for each matrix (and
/// each expert of a stacked tensor) the mean square of every input column. Rounding then minimises
/// Σ_j E[x_j²] (w_j − ŵ_j)², the expected squared error of the product, rather than the plain weight error.
public struct Calibration: Sendable {
    public let statistics: ActivationStatistics
    /// Tokens the text gave.
    public let tokens: Int
    public let path: String
    /// Experts per layer of the model it was collected on.
    public let expertCount: Int

    /// Runs `model` over the text in `path` in independent windows of `window` tokens (as perplexity does),
    /// at most `maxTokens`, collecting the statistics in float32.
    /// `covarianceWidth`: also collect E[x xᵀ] for GPTQ at sites up to this wide (0: diagonals only).
    public static func collect(model: Model, textFile path: String, maxTokens: Int = 32_768, window: Int = 512,
                               threads: Int, covarianceWidth: Int = 0, progress: (Int, Int) -> Void = { _, _ in }) throws -> Calibration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw QuantizeError.calibration(path: path, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw QuantizeError.calibration(path: path, reason: "is not UTF-8 text")
        }
        let tokenizer = try Tokenizer(spec: try model.store.tokenizerSpec())
        let ids = Array(tokenizer.encode(text).prefix(maxTokens))
        guard ids.count >= 2 else { throw QuantizeError.calibration(path: path, reason: "gives fewer than 2 tokens") }
        let stats = ActivationStatistics(covarianceWidth: covarianceWidth)
        let w = min(window, ids.count)
        let state = InferenceState(config: model.config, contextLength: w, maxBatch: w, logitRows: w, threads: threads, precision: .f32)
        state.activationStatistics = stats
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start ..< min(ids.count, start + w)])
            state.reset()
            try model.forward(chunk, state: state, logits: .all)
            start += chunk.count
            progress(start, ids.count)
        }
        return Calibration(statistics: stats, tokens: ids.count, path: path, expertCount: model.config.expertCount)
    }

    /// The column weights for tensor `name` (canonical), for expert `expert` of a stacked tensor; nil when
    /// the tensor is not a product's weight (embedding) or no calibration row reached it.
    /// An expert that no calibration token chose gets the mean of its layer's other experts.
    public func weights(tensor name: String, expert: Int?) -> [Float]? {
        guard let site = site(tensor: name, expert: expert) else { return nil }
        if let w = statistics.meanSquares(site) { return w }
        switch site {
        case let .expertInput(l, _): return Self.mean((0 ..< expertCount).compactMap { statistics.meanSquares(.expertInput(layer: l, expert: $0)) })
        case let .expertDown(l, _): return Self.mean((0 ..< expertCount).compactMap { statistics.meanSquares(.expertDown(layer: l, expert: $0)) })
        default: return nil
        }
    }

    static func mean(_ rows: [[Float]]) -> [Float]? {
        guard let first = rows.first else { return nil }
        var out = [Float](repeating: 0, count: first.count)
        for r in rows { for j in 0 ..< out.count { out[j] += r[j] } }
        return out.map { $0 / Float(rows.count) }
    }
}
