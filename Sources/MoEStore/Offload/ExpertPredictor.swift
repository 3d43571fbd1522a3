/// Guesses which experts a layer will choose before its router runs, so that the cache can load them while
/// the layers before it compute (speculative loading, Eliseev & Mazur 2023). Three sources, each a
/// distribution over the layer's experts:
/// - router: the layer's own router applied to an earlier hidden state (given by the forward pass);
/// - cross-layer: how often each expert followed the experts the preceding layer (in decode order) chose;
/// - same-layer: how often each expert followed the experts this layer chose at the previous token.
/// They are mixed with weights that follow each source's recent recall in that layer (an exponential
/// average of the share of the chosen experts its own top-k named), so a source that does not predict
/// this model (the router, under a forced routing trace) fades out.
///
/// Used from the compute thread only.
public final class ExpertPredictor: @unchecked Sendable {
    public let layers: Int
    public let experts: Int
    public let k: Int
    private var cross: [Float]          // [layers, experts, experts] counts: chosen before (preceding layer) → chosen at layer
    private var crossRow: [Float]       // [layers, experts] row sums of cross
    private var same: [Float]           // [layers, experts, experts] counts: chosen at layer, previous token → now
    private var sameRow: [Float]        // [layers, experts]
    private var lastChosen: [[Int]]     // [layers] the most recent choice at each layer
    private var lastLayer = -1          // the layer observed last
    private var recall: [[Double]]      // [layers][3] recall averages of router, cross-layer, same-layer
    private var pending: [[[Int]]?]     // [layers] each source's top-k at the last prediction for the layer
    private var pendingCombined: [[Int]?] // [layers] the prediction handed out
    /// Per layer: experts chosen that the handed-out prediction named, and experts chosen after a prediction.
    public private(set) var named: [Int]
    public private(set) var chosenAfterPrediction: [Int]

    public init(layout: ExpertLayout) {
        (layers, experts, k) = (layout.layers, layout.experts, layout.expertsPerToken)
        let e2 = layers * experts * experts
        cross = Array(repeating: 0, count: e2)
        same = Array(repeating: 0, count: e2)
        crossRow = Array(repeating: 0, count: layers * experts)
        sameRow = Array(repeating: 0, count: layers * experts)
        lastChosen = Array(repeating: [], count: layers)
        recall = Array(repeating: [0.5, 0.25, 0.25], count: layers)
        pending = Array(repeating: nil, count: layers)
        pendingCombined = Array(repeating: nil, count: layers)
        named = Array(repeating: 0, count: layers)
        chosenAfterPrediction = Array(repeating: 0, count: layers)
    }

    /// Share of chosen experts that the predictions named, per layer (nil where nothing was predicted).
    public var recallPerLayer: [Double?] {
        (0 ..< layers).map { chosenAfterPrediction[$0] > 0 ? Double(named[$0]) / Double(chosenAfterPrediction[$0]) : nil }
    }

    /// How many of `count` guesses are worth loading for `layer`: all while the best source's recent recall
    /// is 0.8 or more, proportionally fewer below (at least one). A guess that misses costs a whole
    /// expert's read, which an I/O-bound run pays in tokens/s.
    public func worthwhile(_ count: Int, layer l: Int) -> Int {
        let best = recall[l].max() ?? 0
        return max(1, min(count, Int((Double(count) * best / 0.8).rounded())))
    }

    /// Layer `layer` chose `chosen` for the current token (called in decode order: layer by layer, token by token).
    public func observe(layer l: Int, chosen: [Int]) {
        let base = l * experts * experts
        if lastLayer >= 0 {
            for e in lastChosen[lastLayer] {
                for c in chosen { cross[base + e * experts + c] += 1 }
                crossRow[l * experts + e] += Float(chosen.count)
            }
        }
        for e in lastChosen[l] {
            for c in chosen { same[base + e * experts + c] += 1 }
            sameRow[l * experts + e] += Float(chosen.count)
        }
        let set = Set(chosen)
        if let lists = pending[l] {
            for (s, list) in lists.enumerated() where !list.isEmpty {
                let r = Double(list.filter(set.contains).count) / Double(max(1, chosen.count))
                recall[l][s] = 0.9 * recall[l][s] + 0.1 * r
            }
            pending[l] = nil
        }
        if let combined = pendingCombined[l] {
            named[l] += combined.filter(set.contains).count
            chosenAfterPrediction[l] += chosen.count
            pendingCombined[l] = nil
        }
        lastChosen[l] = chosen
        lastLayer = l
    }

    /// The `count` experts of `layer` most likely to be chosen next. `routerProbs`: the layer's router
    /// applied to an earlier hidden state, softmaxed (`experts` values), or nil. `crossLayer`: whether the
    /// layer observed last precedes `layer` directly (its transition counts apply).
    public func predict(layer l: Int, routerProbs: UnsafePointer<Float>?, count: Int, crossLayer: Bool = true) -> [Int] {
        let sources = [routerProbs.map { p in (0 ..< experts).map { p[$0] } } ?? []] + transitions(layer: l, crossLayer: crossLayer)
        // Weights squared: lean on the source that has been right.
        let score = mix(sources) { Float(recall[l][$0] * recall[l][$0]) }.sum
        pending[l] = sources.map { $0.isEmpty ? [] : Self.top($0, k) }
        let out = Self.top(score, min(count, experts))
        pendingCombined[l] = out
        return out
    }

    /// The probability that each of `layer`'s experts is chosen at the layer's next turn (summing to top-k), from
    /// the transition counts alone, mixed as `predict` mixes them: after the layer before it (`crossLayer`: the
    /// layer observed last precedes `layer` directly) and after the layer's own last choice. nil before any
    /// counts. For the cache's eviction order (`ForecastPolicy`); changes nothing the recall tracks.
    public func forecast(layer l: Int, crossLayer: Bool) -> [Float]? {
        let (sum, weights) = mix(transitions(layer: l, crossLayer: crossLayer)) { Float(max(recall[l][$0 + 1] * recall[l][$0 + 1], 1e-6)) }
        guard weights > 0 else { return nil }
        let scale = Float(k) / weights
        return sum.map { $0 * scale }
    }

    /// `layer`'s cross-layer and same-layer transition distributions (`recall` sources 1 and 2), each empty where
    /// it does not apply (`crossLayer` false, or no counts yet).
    private func transitions(layer l: Int, crossLayer: Bool) -> [[Float]] {
        [crossLayer ? transition(cross, crossRow, layer: l, from: lastLayer >= 0 ? lastChosen[lastLayer] : []) : [],
         transition(same, sameRow, layer: l, from: lastChosen[l])]
    }

    /// Σ weight(s) · sources[s] over the non-empty sources, and the sum of their weights.
    private func mix(_ sources: [[Float]], weight: (Int) -> Float) -> (sum: [Float], weights: Float) {
        var sum = [Float](repeating: 0, count: experts)
        var weights: Float = 0
        for (s, dist) in sources.enumerated() where !dist.isEmpty {
            let w = weight(s)
            weights += w
            for e in 0 ..< experts { sum[e] += w * dist[e] }
        }
        return (sum, weights)
    }

    /// The distribution over `layer`'s experts that the transition counts give after `from`.
    private func transition(_ counts: [Float], _ rows: [Float], layer l: Int, from: [Int]) -> [Float] {
        var dist = [Float](repeating: 0, count: experts)
        var any = false
        let base = l * experts * experts
        for e in from where rows[l * experts + e] > 0 {
            any = true
            let inv = 1 / rows[l * experts + e]
            for c in 0 ..< experts { dist[c] += counts[base + e * experts + c] * inv }
        }
        guard any else { return [] }
        let n = Float(from.count)
        return dist.map { $0 / n }
    }

    /// Indices of the `n` largest values, largest first (ties to the lower index).
    public static func top(_ v: [Float], _ n: Int) -> [Int] {
        Array(v.indices.sorted { v[$0] != v[$1] ? v[$0] > v[$1] : $0 < $1 }.prefix(n))
    }
}
