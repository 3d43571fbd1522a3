import Foundation
import MoEFormats

/// The router's rule (`RoutingRule`): by default softmax over all experts' logits, keep the top k (highest
/// first; ties to the lower expert index, as torch.topk), and renormalise the k weights to sum to 1 when the
/// model asks (`norm_topk_prob`; always for Mixtral); DeepSeek, GLM and ERNIE add sigmoid scores, selection
/// biases, expert groups and a scaling factor.
public struct RoutingDecision: Sendable, Equatable {
    public var experts: [Int]    // [k], highest weight first
    public var weights: [Float]  // [k] mixing weights
}

public enum Router {
    /// Chooses `k` experts from `logits` (count `n`) by `rule` (see `RoutingRule`); `bias` is the layer's
    /// selection bias when the rule has one. `probs` and `choice` are scratch of `n` floats. Experts come out
    /// best first by their choice score; ties go to the lower index (as torch.topk on CPU).
    public static func route(logits: UnsafePointer<Float>, n: Int, k: Int, renormalize: Bool, rule: RoutingRule = RoutingRule(),
                             bias: UnsafePointer<Float>? = nil,
                             probs: UnsafeMutablePointer<Float>, choice: UnsafeMutablePointer<Float>,
                             experts: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>) {
        // Scores.
        switch rule.scoring {
        case .softmax:
            for i in 0 ..< n { probs[i] = logits[i] }
            Ops.softmax(probs, n: n)
        case .sigmoid:
            for i in 0 ..< n { probs[i] = 1 / (1 + expf(-logits[i])) }
        case .softmaxOfChosen:
            // The logits rank; the weights are softmaxed among the chosen below.
            for i in 0 ..< n { probs[i] = logits[i] }
        }
        // Choice scores: biased where the layer has a bias, and zero outside the chosen groups (transformers'
        // masked_fill(…, 0.0)).
        for i in 0 ..< n { choice[i] = probs[i] + (bias?[i] ?? 0) }
        if rule.isGrouped { maskGroups(choice, n: n, rule: rule) }
        // Top k by repeated scans: k and n are small (≤ 8 of ≤ 256).
        for j in 0 ..< k {
            var best = -1
            var bestScore = -Float.infinity
            for i in 0 ..< n where choice[i] > bestScore {
                var taken = false
                for jj in 0 ..< j where experts[jj] == Int32(i) { taken = true; break }
                if !taken { best = i; bestScore = choice[i] }
            }
            if best < 0 { // NaN logits: fall back to the first unused experts rather than crash
                best = (0 ..< n).first { i in !(0 ..< j).contains { experts[$0] == Int32(i) } } ?? 0
            }
            experts[j] = Int32(best)
            weights[j] = probs[best].isNaN ? 0 : probs[best]
        }
        if rule.scoring == .softmaxOfChosen {
            Ops.softmax(weights, n: k)
        } else if renormalize {
            var s: Float = 0
            for j in 0 ..< k { s += weights[j] }
            let d = max(s, rule.renormFloor)
            if d > 0 { for j in 0 ..< k { weights[j] /= d } }
        }
        if rule.scale != 1 { for j in 0 ..< k { weights[j] *= rule.scale } }
    }

    /// Zeroes the choice scores outside the `groupsUsed` best of `groups` equal groups.
    static func maskGroups(_ choice: UnsafeMutablePointer<Float>, n: Int, rule: RoutingRule) {
        let size = n / rule.groups
        var groupScores = [Float](repeating: 0, count: rule.groups)
        for g in 0 ..< rule.groups {
            let base = choice + g * size
            switch rule.groupScore {
            case .max:
                var m = -Float.infinity
                for i in 0 ..< size where base[i] > m { m = base[i] }
                groupScores[g] = m
            case .topTwoSum:
                var first = -Float.infinity, second = -Float.infinity
                for i in 0 ..< size {
                    let v = base[i]
                    if v > first { second = first; first = v } else if v > second { second = v }
                }
                groupScores[g] = first + second
            }
        }
        var keep = [Bool](repeating: false, count: rule.groups)
        for _ in 0 ..< rule.groupsUsed {
            var best = -1
            for g in 0 ..< rule.groups where !keep[g] && (best < 0 || groupScores[g] > groupScores[best]) { best = g }
            keep[best] = true
        }
        for g in 0 ..< rule.groups where !keep[g] {
            for i in 0 ..< size { choice[g * size + i] = 0 }
        }
    }

    /// Convenience for tests and tools.
    public static func route(logits: [Float], k: Int, renormalize: Bool, rule: RoutingRule = RoutingRule(), bias: [Float]? = nil) -> RoutingDecision {
        var probs = [Float](repeating: 0, count: logits.count)
        var choice = [Float](repeating: 0, count: logits.count)
        var e = [Int32](repeating: 0, count: k)
        var w = [Float](repeating: 0, count: k)
        logits.withUnsafeBufferPointer { l in
            if let bias {
                bias.withUnsafeBufferPointer { b in
                    route(logits: l.baseAddress!, n: logits.count, k: k, renormalize: renormalize, rule: rule, bias: b.baseAddress,
                          probs: &probs, choice: &choice, experts: &e, weights: &w)
                }
            } else {
                route(logits: l.baseAddress!, n: logits.count, k: k, renormalize: renormalize, rule: rule,
                      probs: &probs, choice: &choice, experts: &e, weights: &w)
            }
        }
        return RoutingDecision(experts: e.map(Int.init), weights: w)
    }
}

/// Routing choices recorded during a forward pass: for every layer, one decision per processed token.
public struct RoutingLog: Sendable {
    public var layers: [[RoutingDecision]]  // [layers][tokens]
    public init(layerCount: Int) { layers = Array(repeating: [], count: layerCount) }
}
