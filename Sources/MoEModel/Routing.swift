/// The router's rule, shared by every supported architecture: softmax over all experts' logits,
/// keep the top k (highest first; ties to the lower expert index, as torch.topk), and renormalise the
/// k weights to sum to 1 when the model asks (`norm_topk_prob`; always for Mixtral).
public struct RoutingDecision: Sendable, Equatable {
    public var experts: [Int]    // [k], highest weight first
    public var weights: [Float]  // [k] mixing weights
}

public enum Router {
    /// Chooses `k` experts from `logits` (count `n`). `probs` is scratch of `n` floats.
    public static func route(logits: UnsafePointer<Float>, n: Int, k: Int, renormalize: Bool,
                             probs: UnsafeMutablePointer<Float>,
                             experts: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>) {
        for i in 0 ..< n { probs[i] = logits[i] }
        Ops.softmax(probs, n: n)
        // Selection of the top k by repeated scans: k and n are small (≤ 8 of ≤ 256).
        for j in 0 ..< k {
            var best = -1
            var bestP = -Float.infinity
            for i in 0 ..< n where probs[i] > bestP {
                var taken = false
                for jj in 0 ..< j where experts[jj] == Int32(i) { taken = true; break }
                if !taken { best = i; bestP = probs[i] }
            }
            if best < 0 { // NaN logits: fall back to the first unused experts rather than crash
                best = (0 ..< n).first { i in !(0 ..< j).contains { experts[$0] == Int32(i) } } ?? 0
                bestP = 0
            }
            experts[j] = Int32(best)
            weights[j] = bestP
        }
        if renormalize {
            var s: Float = 0
            for j in 0 ..< k { s += weights[j] }
            if s > 0 { for j in 0 ..< k { weights[j] /= s } }
        }
    }

    /// Convenience for tests and tools.
    public static func route(logits: [Float], k: Int, renormalize: Bool) -> RoutingDecision {
        var probs = [Float](repeating: 0, count: logits.count)
        var e = [Int32](repeating: 0, count: k)
        var w = [Float](repeating: 0, count: k)
        logits.withUnsafeBufferPointer { l in
            route(logits: l.baseAddress!, n: logits.count, k: k, renormalize: renormalize,
                  probs: &probs, experts: &e, weights: &w)
        }
        return RoutingDecision(experts: e.map(Int.init), weights: w)
    }
}

/// Routing choices recorded during a forward pass: for every layer, one decision per processed token.
public struct RoutingLog: Sendable {
    public var layers: [[RoutingDecision]]  // [layers][tokens]
    public init(layerCount: Int) { layers = Array(repeating: [], count: layerCount) }
}
