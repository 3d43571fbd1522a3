import CKernels
import Testing
@testable import MoEKernels

@Suite struct GemmTests {
    /// (M, N, K): odd sizes off the 4 × 3 register blocking and the 8-wide vectors, N = 1,
    /// K past the 1024-float k chunk.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 1, 9), (4, 1, 64), (5, 1, 7), (7, 5, 13), (3, 4, 8), (13, 7, 100),
        (17, 1, 257), (9, 4, 2500), (33, 11, 1031), (64, 3, 96),
    ]

    @Test(arguments: shapes)
    func gemmMatchesNaive(_ shape: (Int, Int, Int)) {
        let (M, N, K) = shape
        var rng = SeededRNG(seed: UInt64(M * 1_000_003 + N * 1009 + K))
        let W = (0 ..< M * K).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        let X = (0 ..< N * K).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        let ldy = M + 3 // a stride wider than M: the gaps must stay untouched
        let (ref, absSum) = naiveGemm(M: M, N: N, K: K, W: W, X: X)
        for generic in [false, true] {
            var Y = [Float](repeating: .nan, count: N * ldy)
            if generic { moe_gemm_f32_generic(Int64(M), Int64(N), Int64(K), W, X, &Y, Int64(ldy)) }
            else { moe_gemm_f32(Int64(M), Int64(N), Int64(K), W, X, &Y, Int64(ldy)) }
            var worst = 0.0
            for n in 0 ..< N {
                for m in 0 ..< M {
                    // float32 sums: error within a few ulps of Σ|w·x| per √K or so; 1e-6 relative is tight.
                    let err = abs(Double(Y[n * ldy + m]) - ref[n * M + m]) / (absSum[n * M + m] + 1e-30)
                    worst = max(worst, err)
                }
                let untouched = Y[n * ldy + M ..< (n + 1) * ldy].allSatisfy { $0.isNaN }
                #expect(untouched, "wrote past M")
            }
            #expect(worst <= 1e-6, "\(generic ? "generic" : "simd") \(M)×\(N)×\(K): relative error \(worst)")
        }
    }

    @Test(arguments: [1, 7, 8, 31, 32, 33, 100, 4099])
    func dotMatchesNaive(_ n: Int) {
        var rng = SeededRNG(seed: UInt64(n))
        let a = (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        let b = (0 ..< n).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        let (ref, absSum) = naiveGemm(M: 1, N: 1, K: n, W: a, X: b)
        for v in [moe_dot_f32(a, b, Int64(n)), moe_dot_f32_generic(a, b, Int64(n))] {
            #expect(abs(Double(v) - ref[0]) <= 1e-6 * absSum[0], "n=\(n): \(v) vs \(ref[0])")
        }
    }

    /// Attention's weighted sum of cached value rows: the SIMD and generic entry points give exactly the bits of the
    /// plain loop (out[i] += p · v[i], j in order), for head sizes on and off the 64- and 8-float blocks, a ring
    /// that wraps (first > 0, positions past the slots) and rows wider than the head (stride > count).
    @Test(arguments: [(128, 512, 1024, 0, 300), (64, 256, 7, 2, 20), (100, 100, 1000, 0, 999), (7, 9, 5, 3, 11), (512, 576, 40, 0, 39)])
    func weightedRowsMatchThePlainLoop(_ c: (count: Int, stride: Int, ring: Int, first: Int, last: Int)) {
        var rng = SeededRNG(seed: UInt64(c.count * 31 + c.last))
        let rows = (0 ..< c.ring * c.stride).map { _ in Float.random(in: -2 ... 2, using: &rng) }
        let p = (0 ... c.last).map { _ in Float.random(in: 0 ... 1, using: &rng) }
        var expected = [Float](repeating: 0, count: c.count)
        for j in c.first ... c.last {
            for i in 0 ..< c.count { expected[i] += p[j] * rows[(j % c.ring) * c.stride + i] }
        }
        for generic in [false, true] {
            var out = [Float](repeating: .nan, count: c.count + 1)
            if generic {
                moe_weighted_rows_f32_generic(&out, p, rows, Int64(c.stride), Int64(c.ring), Int64(c.first), Int64(c.last), Int64(c.count))
            } else {
                moe_weighted_rows_f32(&out, p, rows, Int64(c.stride), Int64(c.ring), Int64(c.first), Int64(c.last), Int64(c.count))
            }
            #expect(out[..<c.count].map(\.bitPattern) == expected.map(\.bitPattern), "generic \(generic) \(c)")
            #expect(out[c.count].isNaN, "wrote past count")
        }
    }
}
