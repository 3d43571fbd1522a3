import Foundation
import MoEModel
import Testing

struct SamplerTests {
    func sample(_ logits: [Float], _ o: SamplingOptions, history: [Int] = [], times: Int = 1) -> [Int] {
        var s = Sampler(options: o)
        return logits.withUnsafeBufferPointer { l in (0 ..< times).map { _ in s.sample(l, history: history) } }
    }

    let logits: [Float] = [0.1, 2.0, 1.5, -1, 1.9]

    @Test func greedyIsArgmax() {
        #expect(sample(logits, SamplingOptions()) == [1])
    }

    @Test("each narrowing option at its extreme collapses to the argmax", arguments: [
        SamplingOptions(temperature: 1, topK: 1, seed: 7),
        SamplingOptions(temperature: 1, topP: 0.01, seed: 7),
        SamplingOptions(temperature: 1, minP: 0.99, seed: 7),
        SamplingOptions(temperature: 1e-4, seed: 7),
    ])
    func extremes(options: SamplingOptions) {
        #expect(Set(sample(logits, options, times: 200)) == [1])
    }

    @Test func seedMakesDrawsRepeatable() {
        let o = SamplingOptions(temperature: 1, seed: 42)
        let a = sample(logits, o, times: 100), b = sample(logits, o, times: 100)
        #expect(a == b)
        var o2 = o
        o2.seed = 43
        #expect(sample(logits, o2, times: 100) != a)
    }

    @Test("temperature 1 draws follow softmax(logits)")
    func frequencies() {
        let probs: [Double] = [0.5, 0.3, 0.2]
        let l = probs.map { Float(log($0)) }
        let n = 20_000
        let draws = sample(l, SamplingOptions(temperature: 1, seed: 1), times: n)
        for (i, p) in probs.enumerated() {
            let f = Double(draws.filter { $0 == i }.count) / Double(n)
            #expect(abs(f - p) < 0.015, "token \(i): frequency \(f), expected \(p)")
        }
    }

    @Test("top-k and top-p never draw outside their sets")
    func sets() {
        let topK = Set(sample(logits, SamplingOptions(temperature: 2, topK: 2, seed: 3), times: 500))
        #expect(topK.isSubset(of: [1, 4]) && topK.count == 2)
        // softmax of the logits: p(1) ≈ 0.37, p(4) ≈ 0.34, p(2) ≈ 0.23: top-p 0.6 keeps tokens 1 and 4.
        let topP = Set(sample(logits, SamplingOptions(temperature: 1, topP: 0.6, seed: 3), times: 500))
        #expect(topP == [1, 4])
    }

    @Test("repetition penalty moves greedy off a recent token")
    func repetitionPenalty() {
        #expect(sample(logits, SamplingOptions(repetitionPenalty: 1.2), history: [1]) == [4])
        #expect(sample(logits, SamplingOptions(repetitionPenalty: 1.2), history: [3]) == [1])
    }

    @Test("presence and frequency penalties subtract from the logits of tokens in the window (llama.cpp's order)")
    func additivePenalties() {
        // logits [0.1, 2.0, 1.5, -1, 1.9]: token 1 seen once, presence 0.05 → 1.95 > 1.9 stays; 0.2 → 1.8 < 1.9.
        #expect(sample(logits, SamplingOptions(presencePenalty: 0.05), history: [1]) == [1])
        #expect(sample(logits, SamplingOptions(presencePenalty: 0.2), history: [1]) == [4])
        // frequency: once 0.05 keeps token 1; three times 0.05 × 3 = 0.15 → 1.85 < 1.9.
        #expect(sample(logits, SamplingOptions(frequencyPenalty: 0.05), history: [1]) == [1])
        #expect(sample(logits, SamplingOptions(frequencyPenalty: 0.05), history: [1, 1, 1]) == [4])
        // Only the last `repetitionWindow` tokens count: the early 1s fall out of a window of 2.
        #expect(sample(logits, SamplingOptions(repetitionWindow: 2, frequencyPenalty: 0.05), history: [1, 1, 3, 0]) == [1])
        // A negative penalty favours a seen token: 1.5 + 0.6 = 2.1 beats token 1 (2.0).
        #expect(sample(logits, SamplingOptions(presencePenalty: -0.6), history: [2]) == [2])
        // After the repetition penalty: 2.0 / 2 = 1.0, then − 0.5 → 0.5; token 4 (1.9) wins, token 2 (1.5) second.
        let both = SamplingOptions(temperature: 1, topK: 2, repetitionPenalty: 2, presencePenalty: 0.5, seed: 1)
        #expect(Set(sample(logits, both, history: [1], times: 200)) == [4, 2])
    }
}
