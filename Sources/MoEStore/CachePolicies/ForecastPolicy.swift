/// The predictive policy's eviction: evict the resident expert least likely to be asked for at its layer's next
/// turn, as the predictor forecasts it (`ExpertPredictor.forecast`: what the layer chose at the last token, and
/// what the layer before chose for this one, predict the layer's next choice), blended with its decayed frequency
/// (as `LFUPolicy` counts it, the best of the plain policies on real routing).
///
/// Belady's MIN evicts the expert needed furthest in the future; on route-16x64-top8 at 39% of the experts it
/// hits 87% of requests where LFU hits 75% (decay ×0.3; 71% at ×0.9) and this policy 77%: frequency alone misses
/// the topic of the moment, which the transition counts partly see. Both numbers are probabilities of a request
/// at the layer's next token (a forecast sums to top-k over a layer's experts, as k · layers · count / all counts
/// does), so experts of different layers compare. Among equal scores the least recently used goes first.
///
/// Residents are scanned at each eviction (a few hundred; a forecast changes every layer, so a heap would be
/// rebuilt as often as it is read).
public struct ForecastPolicy: CachePolicy {
    private var count: [Double]        // [ids] decayed requests
    private var total = 0.0            // their sum
    private var lastUse: [Int]
    private var forecast: [Float]      // [ids] P(requested at the layer's next turn); 0 until forecast
    private var forecasted: [Bool]     // [layers] whether the layer has a forecast yet
    private var resident: [Int] = []
    private var position: [Int]        // [ids] index in `resident`, -1 when absent
    private let layers: Int, experts: Int, k: Int
    /// Weight of the forecast against the frequency (0: LFU's order).
    public let weight: Double
    public let decay: Double
    public let decayPeriod: Int
    private var nextDecay: Int

    public init(layers: Int, experts: Int, k: Int, weight: Double = 0.4, decay: Double = 0.3, decayPeriod: Int = 4096) {
        let ids = layers * experts
        count = [Double](repeating: 0, count: ids)
        lastUse = [Int](repeating: -1, count: ids)
        forecast = [Float](repeating: 0, count: ids)
        forecasted = [Bool](repeating: false, count: layers)
        position = [Int](repeating: -1, count: ids)
        (self.layers, self.experts, self.k, self.weight, self.decay) = (layers, experts, k, weight, decay)
        self.decayPeriod = max(1, decayPeriod)
        nextDecay = self.decayPeriod
    }

    private mutating func request(_ id: Int, _ time: Int) {
        if decay < 1, time >= nextDecay {
            nextDecay += decayPeriod
            for i in count.indices { count[i] *= decay }
            total *= decay
        }
        count[id] += 1
        total += 1
        lastUse[id] = time
    }

    private mutating func admit(_ id: Int) {
        guard position[id] < 0 else { return }
        position[id] = resident.count
        resident.append(id)
    }

    public mutating func used(_ id: Int, at time: Int) { request(id, time) }
    public mutating func inserted(_ id: Int, at time: Int) { request(id, time); admit(id) }
    /// A guess: ranked by its earlier requests and its forecast (which named it), not counting one.
    public mutating func insertedCold(_ id: Int, at time: Int) { admit(id) }

    /// The forecast for `layer`'s next turn: `probabilities[x]` for expert x (summing to about top-k).
    public mutating func forecast(layer: Int, probabilities: [Float]) {
        forecasted[layer] = true
        for x in 0 ..< experts { forecast[layer * experts + x] = probabilities[x] }
    }

    /// P(requested at the layer's next turn), blended.
    private func score(_ id: Int) -> Double {
        let l = id / experts
        // Requests per turn of its layer: every layer is asked k experts a token, so a layer's share of all
        // requests is 1 / layers (and the order is LFU's).
        let frequency = total > 0 ? Double(k * layers) * count[id] / total : 0
        guard forecasted[l] else { return frequency }
        return weight * Double(forecast[id]) + (1 - weight) * frequency
    }

    public mutating func victim(excluding excluded: (Int) -> Bool) -> Int? {
        var best = -1, bestScore = Double.infinity
        for id in resident where !excluded(id) {
            let s = score(id)
            if best < 0 || s < bestScore || (s == bestScore && lastUse[id] < lastUse[best]) { (best, bestScore) = (id, s) }
        }
        return best >= 0 ? best : nil
    }

    public mutating func removed(_ id: Int) {
        let p = position[id]
        guard p >= 0 else { return }
        let last = resident.removeLast()
        if last != id {
            resident[p] = last
            position[last] = p
        }
        position[id] = -1
    }
}
