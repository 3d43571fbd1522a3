import Foundation
import MoEModel

/// How evenly a model's routers spread tokens over the experts: per layer, how many times each expert was
/// chosen for random input tokens. A healthy synthetic model uses every expert about equally; a collapsed
/// router sends most tokens to the same few.
public struct RoutingSpread: Sendable {
    public let tokens: Int
    public let topK: Int
    /// [layer][expert]: times chosen.
    public let counts: [[Int]]

    /// Choices per expert if every expert were chosen equally often.
    public var fairShare: Double { Double(tokens * topK) / Double(max(1, counts.first?.count ?? 1)) }
    /// The busiest expert's choices over the fair share, in the worst layer (1 = perfectly even).
    public var maxRatio: Double { Double(counts.map { $0.max() ?? 0 }.max() ?? 0) / fairShare }
    /// The fewest experts a layer used at all.
    public var minExpertsUsed: Int { counts.map { $0.filter { $0 > 0 }.count }.min() ?? 0 }

    /// Runs `tokens` random token ids (drawn from `seed`) through `model` in one batch and counts its routing.
    public static func measure(_ model: Model, tokens: Int = 200, seed: UInt64 = 1) throws -> RoutingSpread {
        let c = model.config
        var state = seed
        let ids = (0 ..< tokens).map { _ -> Int in
            state &+= 0x9E37_79B9_7F4A_7C15
            return Int(NormalStream.mix64(state) % UInt64(c.vocabSize))
        }
        let inference = InferenceState(config: c, contextLength: tokens, maxBatch: tokens)
        inference.routingLog = RoutingLog(layerCount: c.layerCount)
        _ = try model.forward(ids, state: inference, logits: .last)
        let counts = inference.routingLog!.layers.map { decisions in
            var perExpert = [Int](repeating: 0, count: c.expertCount)
            for d in decisions { for e in d.experts { perExpert[e] += 1 } }
            return perExpert
        }
        return RoutingSpread(tokens: tokens, topK: c.expertsPerToken, counts: counts)
    }

    public var summary: String {
        let experts = counts.first?.count ?? 0
        return "routing of \(tokens) random tokens, top-\(topK) of \(experts) experts: every layer used ≥ \(minExpertsUsed) experts, "
            + "busiest expert \(String(format: "%.2f", maxRatio))× its fair share (\(String(format: "%.1f", fairShare)) choices)"
    }
}
