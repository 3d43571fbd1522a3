import Foundation
import MoEModel
import Testing

/// The router's rule on hand-made logits: softmax over all experts, top k highest first (ties to the lower
/// index), weights renormalised to sum 1 only when asked.
struct RoutingTests {
    static func softmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max()!)
        let e = x.map { exp(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func close(_ a: [Float], _ b: [Double], _ tolerance: Double = 1e-6) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tolerance }
    }

    @Test("the k highest, highest first")
    func topKOrder() {
        let logits: [Float] = [0.1, 3, -2, 1, 2.5, -0.5]
        let d = Router.route(logits: logits, k: 3, renormalize: false)
        #expect(d.experts == [1, 4, 3])
        let p = Self.softmax(logits)
        #expect(Self.close(d.weights, [p[1], p[4], p[3]]))
        #expect(d.weights[0] > d.weights[1] && d.weights[1] > d.weights[2])
    }

    @Test("ties go to the lower index, as torch.topk")
    func ties() {
        let d = Router.route(logits: [0.5, 2, -1, 2, 1.5, 2], k: 2, renormalize: false)
        #expect(d.experts == [1, 3])
        #expect(d.weights[0] == d.weights[1])
        let all = Router.route(logits: [1, 1, 1, 1], k: 4, renormalize: true)
        #expect(all.experts == [0, 1, 2, 3])
        #expect(Self.close(all.weights, [0.25, 0.25, 0.25, 0.25]))
        let tail = Router.route(logits: [3, 0, 0, 0, -1], k: 3, renormalize: false)
        #expect(tail.experts == [0, 1, 2])
    }

    @Test("renormalisation on and off", arguments: [1, 2, 3, 8])
    func renormalisation(k: Int) {
        var rng = SplitMix(state: UInt64(k))
        for _ in 0 ..< 20 {
            let logits = (0 ..< 8).map { _ in 3 * rng.uniform() }
            let p = Self.softmax(logits)
            let plain = Router.route(logits: logits, k: k, renormalize: false)
            let renorm = Router.route(logits: logits, k: k, renormalize: true)
            #expect(plain.experts == renorm.experts)
            #expect(Set(plain.experts).count == k)
            let chosen = plain.experts.map { p[$0] }
            #expect(Self.close(plain.weights, chosen))
            let sum = chosen.reduce(0, +)
            #expect(Self.close(renorm.weights, chosen.map { $0 / sum }))
            #expect(abs(renorm.weights.reduce(0, +) - 1) <= 1e-6)
            let plainSum = Double(plain.weights.reduce(0, +))
            if k < 8 { #expect(plainSum < 1 - 1e-3) } else { #expect(abs(plainSum - 1) <= 1e-6) }
            // No expert left out is more likely than one chosen.
            let lowest = chosen.min()!
            for e in 0 ..< 8 where !plain.experts.contains(e) { #expect(p[e] <= lowest) }
        }
    }

    @Test("Mixtral's softmax over the top-k logits equals softmax over all, then renormalise")
    func mixtralRule() {
        var rng = SplitMix(state: 99)
        for k in [1, 2, 4] {
            for _ in 0 ..< 20 {
                let logits = (0 ..< 8).map { _ in 4 * rng.uniform() }
                let top = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }.prefix(k)
                let mixtral = Self.softmax(top.map { logits[$0] })
                let d = Router.route(logits: logits, k: k, renormalize: true)
                #expect(d.experts == Array(top))
                #expect(Self.close(d.weights, mixtral))
            }
        }
    }

    @Test("large logits stay finite")
    func largeLogits() {
        let d = Router.route(logits: [1000, 999, -1000, 998], k: 2, renormalize: true)
        #expect(d.experts == [0, 1])
        let e = exp(-1.0)
        #expect(Self.close(d.weights, [1 / (1 + e), e / (1 + e)]))
    }
}
