import Foundation

/// How the next token is chosen from logits. `temperature == 0` means greedy (argmax).
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float = 0
    public var topK: Int = 0            // 0 = off
    public var topP: Float = 1          // 1 = off
    public var minP: Float = 0          // 0 = off; keep tokens with p ≥ minP · p_max
    public var repetitionPenalty: Float = 1  // 1 = off; as HF/llama.cpp: logit / penalty if > 0 else · penalty
    public var repetitionWindow: Int = 64    // how many recent tokens the penalty looks at
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                repetitionPenalty: Float = 1, repetitionWindow: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.repetitionWindow = repetitionWindow
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

/// Chooses tokens: repetition penalty → temperature → top-k → top-p → min-p → draw.
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

    /// The next token given `logits` and the tokens so far (`history`, for the repetition penalty).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int]) -> Int {
        let o = options
        var penalised: Set<Int> = []
        if o.repetitionPenalty != 1 { penalised = Set(history.suffix(o.repetitionWindow)) }
        func adjusted(_ i: Int) -> Float {
            let v = logits[i]
            guard penalised.contains(i) else { return v }
            return v > 0 ? v / o.repetitionPenalty : v * o.repetitionPenalty
        }
        if o.temperature <= 0 {
            if penalised.isEmpty { return Self.argmax(logits) }
            var best = 0
            var bestV = -Float.infinity
            for i in 0 ..< logits.count { let v = adjusted(i); if v > bestV { best = i; bestV = v } }
            return best
        }
        candidates.removeAll(keepingCapacity: true)
        for i in 0 ..< logits.count { candidates.append((i, adjusted(i) / o.temperature)) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if o.topK > 0, o.topK < candidates.count { candidates.removeSubrange(o.topK...) }
        // Softmax over the survivors (sorted, so the first is the maximum).
        let m = candidates[0].logit
        var probs = candidates.map { Double(expf($0.logit - m)) }
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
        var r = rng.nextUnit() * total
        for (i, p) in probs.enumerated() {
            r -= p
            if r < 0 { return candidates[i].id }
        }
        return candidates[keep - 1].id
    }
}
