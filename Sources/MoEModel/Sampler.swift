import Foundation

/// How the next token is chosen from logits. `temperature == 0` means greedy (argmax).
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 0
    public var topK: Int = 0            // 0 = off
    public var topP: Float = 1          // 1 = off
    public var minP: Float = 0          // 0 = off; keep tokens with p ≥ minP · p_max
    public var repetitionPenalty: Float = 1  // 1 = off; as HF/llama.cpp: logit / penalty if > 0 else · penalty
    public var repetitionWindow: Int = 64    // how many recent tokens the penalties look at
    /// OpenAI's additive penalties (0 = off), over the same window, applied after the repetition penalty as
    /// llama.cpp does: logit − count × frequencyPenalty − (count > 0 ? presencePenalty : 0).
    public var presencePenalty: Float = 0
    public var frequencyPenalty: Float = 0
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                repetitionPenalty: Float = 1, repetitionWindow: Int = 64, presencePenalty: Float = 0,
                frequencyPenalty: Float = 0, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
    }
}

/// xoshiro256** seeded by SplitMix64: the same seed gives the same tokens on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }
    public mutating func next() -> UInt64 {
        func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3; s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }
    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Chooses tokens: repetition, frequency and presence penalties → temperature → top-k → top-p → min-p → draw.
public struct Sampler: Sendable {
    public let options: SamplingOptions
    private var rng: SeededGenerator
    private var candidates: [(id: Int, logit: Float)] = []

    public init(options: SamplingOptions) {
        self.options = options
        rng = SeededGenerator(seed: options.seed)
    }

    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestV = -Float.infinity
        for i in 0 ..< logits.count where logits[i] > bestV { best = i; bestV = logits[i] }
        return best
    }

    /// The next token given `logits` and the tokens so far (`history`, for the penalties).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int]) -> Int {
        choose(logits, history: history, accept: nil)!
    }

    /// The next token that `accept` allows (a grammar: `JSONPrefix`), or nil when it allows none. Greedy takes
    /// the most likely allowed token; sampling draws from the allowed part of the kept set (top-k/top-p/min-p),
    /// renormalised, and when that is empty takes the most likely allowed token of the rest. `accept` is asked
    /// about as few tokens as that takes, most likely first.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int], accepting accept: (Int) -> Bool) -> Int? {
        withoutActuallyEscaping(accept) { choose(logits, history: history, accept: $0) }
    }

    private mutating func choose(_ logits: UnsafeBufferPointer<Float>, history: [Int], accept: ((Int) -> Bool)?) -> Int? {
        let o = options
        // How often each token occurs in the window (empty when every penalty is off).
        var penalised: [Int: Int] = [:]
        if o.repetitionPenalty != 1 || o.presencePenalty != 0 || o.frequencyPenalty != 0 {
            for t in history.suffix(o.repetitionWindow) { penalised[t, default: 0] += 1 }
        }
        func adjusted(_ i: Int) -> Float {
            var v = logits[i]
            guard let count = penalised[i] else { return v }
            if o.repetitionPenalty != 1 { v = v > 0 ? v / o.repetitionPenalty : v * o.repetitionPenalty }
            return v - Float(count) * o.frequencyPenalty - o.presencePenalty
        }
        func sortCandidates(scale: Float) {
            candidates.removeAll(keepingCapacity: true)
            for i in 0 ..< logits.count { candidates.append((i, adjusted(i) / scale)) }
            candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        }
        if o.temperature <= 0 {
            var best = 0
            if penalised.isEmpty {
                best = Self.argmax(logits)
            } else {
                var bestV = -Float.infinity
                for i in 0 ..< logits.count { let v = adjusted(i); if v > bestV { best = i; bestV = v } }
            }
            guard let accept, !accept(best) else { return best }
            sortCandidates(scale: 1)
            return candidates.first { accept($0.id) }?.id
        }
        sortCandidates(scale: o.temperature)
        // Softmax over the top-k (sorted, so the first is the maximum); the rest stay for a grammar's fallback.
        let m = candidates[0].logit
        var probs = candidates.prefix(o.topK > 0 ? o.topK : candidates.count).map { Double(expf($0.logit - m)) }
        var total = probs.reduce(0, +)
        var keep = probs.count
        if o.topP < 1 {
            var cum = 0.0
            for (i, p) in probs.enumerated() {
                cum += p / total
                if cum >= Double(o.topP) { keep = i + 1; break }
            }
        }
        if o.minP > 0 {
            let threshold = Double(o.minP) * probs[0]
            keep = min(keep, max(1, probs.prefix(keep).firstIndex { $0 < threshold } ?? keep))
        }
        probs.removeSubrange(keep...)
        total = probs.reduce(0, +)
        while total > 0 {
            var r = rng.nextUnit() * total
            var chosen = keep - 1
            for (i, p) in probs.enumerated() where p > 0 {
                r -= p
                chosen = i
                if r < 0 { break }
            }
            guard let accept, !accept(candidates[chosen].id) else { return candidates[chosen].id }
            // Refused: draw again from what is left of the kept set.
            total -= probs[chosen]
            probs[chosen] = 0
            if probs.allSatisfy({ $0 == 0 }) { break }
        }
        return candidates[keep...].first { accept!($0.id) }?.id
    }
}
