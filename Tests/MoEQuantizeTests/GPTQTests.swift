import CKernels
import Foundation
import MoEFormats
import MoEKernels
@testable import MoEQuantize
import Testing

/// GPTQ against block-by-block rounding on synthetic data with correlated inputs, where pushing errors onto
/// later columns pays: the product's error E[((W − Ŵ) x)²] must be clearly lower, and the bytes must decode
/// (with the project's own dequantizer) to exactly the values GPTQ reports.
@Suite struct GPTQTests {
    /// A seeded Gaussian stream (Box–Muller over SplitMix64).
    struct Gaussian {
        var state: UInt64
        mutating func next() -> Float {
            func u() -> Double {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return (Double((z ^ (z >> 31)) >> 11) + 0.5) / 9_007_199_254_740_992
            }
            return Float((-2 * log(u())).squareRoot() * cos(2 * .pi * u()))
        }
    }

    /// n input rows of width `cols` with strongly correlated neighbouring columns and uneven scales.
    static func inputs(_ n: Int, _ cols: Int, seed: UInt64) -> [Float] {
        var g = Gaussian(state: seed)
        var x = [Float](repeating: 0, count: n * cols)
        for r in 0 ..< n {
            var prev: Float = 0
            for j in 0 ..< cols {
                prev = 0.8 * prev + 0.6 * g.next()
                x[r * cols + j] = prev * (1 + Float(j % 7))
            }
        }
        return x
    }

    static func secondMoments(_ x: [Float], _ n: Int, _ cols: Int) -> [Double] {
        var h = [Double](repeating: 0, count: cols * cols)
        for r in 0 ..< n {
            for i in 0 ..< cols { for j in 0 ..< cols { h[i * cols + j] += Double(x[r * cols + i] * x[r * cols + j]) } }
        }
        return h.map { $0 / Double(n) }
    }

    /// (w − ŵ)ᵀ H (w − ŵ) summed over rows.
    static func productError(_ w: [Float], _ what: [Float], _ h: [Double], rows: Int, cols: Int) -> Double {
        var total = 0.0
        for r in 0 ..< rows {
            let d = (0 ..< cols).map { Double(w[r * cols + $0] - what[r * cols + $0]) }
            for i in 0 ..< cols { for j in 0 ..< cols { total += d[i] * h[i * cols + j] * d[j] } }
        }
        return total
    }

    @Test(arguments: [TensorType.q4_0, .q4_1, .q8_0])
    func lowerProductErrorThanBlockRounding(type: TensorType) throws {
        let rows = 16, cols = 128, n = 2048
        let x = Self.inputs(n, cols, seed: 7)
        let h = Self.secondMoments(x, n, cols)
        let factor = try #require(GPTQFactor(secondMoments: h, cols: cols))
        var g = Gaussian(state: 11)
        let w = (0 ..< rows * cols).map { _ in g.next() * 0.05 }
        let rowBytes = type.byteCount(elements: cols)!
        var plain = [Float](repeating: 0, count: rows * cols), gptq = plain
        for r in 0 ..< rows {
            let row = Array(w[r * cols ..< (r + 1) * cols])
            let a = OptimalQuantize.row(type: type, row, weights: factor.diagonal)
            plain.replaceSubrange(r * cols ..< (r + 1) * cols, with: Dequantize.row(type: type, src: a, count: cols))
            var work = row
            var bytes = [UInt8](repeating: 0, count: rowBytes)
            let rc = factor.u.withUnsafeBufferPointer { u in
                factor.diagonal.withUnsafeBufferPointer { d in
                    moe_gptq_row(Int32(type.rawValue), &work, Int64(cols), u.baseAddress, d.baseAddress, &bytes, 0)
                }
            }
            #expect(rc == 0)
            let decoded = Dequantize.row(type: type, src: bytes, count: cols)
            #expect(decoded == work, "GPTQ's reported values are what the bytes decode to")
            gptq.replaceSubrange(r * cols ..< (r + 1) * cols, with: decoded)
        }
        let ePlain = Self.productError(w, plain, h, rows: rows, cols: cols)
        let eGPTQ = Self.productError(w, gptq, h, rows: rows, cols: cols)
        print("GPTQ \(type): product error \(eGPTQ / ePlain) of block rounding's")
        #expect(eGPTQ < 0.8 * ePlain)
    }

    @Test func choleskyInverse() throws {
        let cols = 24
        let h = Self.secondMoments(Self.inputs(200, cols, seed: 3), 200, cols)
        let f = try #require(GPTQFactor(secondMoments: h, cols: cols))
        // Uᵀ U must be (H + damping)⁻¹: check (Uᵀ U)(H + λI) ≈ I.
        let mean = (0 ..< cols).map { h[$0 * cols + $0] }.reduce(0, +) / Double(cols)
        for i in 0 ..< cols {
            for j in 0 ..< cols {
                var s = 0.0
                for k in 0 ..< cols {
                    var inv = 0.0
                    for m in 0 ... min(i, k) { inv += Double(f.u[m * cols + i]) * Double(f.u[m * cols + k]) }
                    s += inv * (h[k * cols + j] + (k == j ? GPTQFactor.damping * mean : 0))
                }
                #expect(abs(s - (i == j ? 1 : 0)) < 1e-3, "(\(i), \(j)): \(s)")
            }
        }
    }

    @Test func degenerateMomentsAreRefused() {
        #expect(GPTQFactor(secondMoments: [Double](repeating: 0, count: 64), cols: 8) == nil)
    }
}
