import CKernels
import MoEFormats
import Testing
@testable import MoEKernels

@Suite struct MatMulTests {
    /// MatMul.apply equals dequantize-then-naive-matmul, for tiles, threads and decode/prefill sizes.
    @Test(arguments: [TensorType.q8_0, .q4_0, .bf16, .f32, .f16, .q4_1, .q4_K, .q5_K, .q6_K])
    func applyMatchesDequantizedNaive(_ t: TensorType) throws {
        var rng = SeededRNG(seed: 77 + UInt64(t.rawValue))
        // rows off the 4-row blocking and the tile size; cols two shapes; n decode and prefill.
        let shapes = t.blockSize == 256 ? [(37, 256), (150, 512)] : [(37, 64), (150, 512)]
        for (rows, cols) in shapes {
            var bytes = randomBlocks(t, blocks: rows * cols / t.blockSize, rng: &rng)
            if !t.isQuantized { // plain float types: sane random values instead of raw bits
                let v = (0 ..< rows * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
                bytes = t == .f32 ? v.withUnsafeBytes { [UInt8]($0) }
                      : t == .f16 ? v.map { Float16($0).bitPattern }.withUnsafeBytes { [UInt8]($0) }
                      : v.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { [UInt8]($0) }
            }
            let W = dequantGeneric(t, bytes, count: rows * cols)
            for n in [1, 3, 7, 33] {
                let X = (0 ..< n * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
                let (ref, absSum) = naiveGemm(M: rows, N: n, K: cols, W: W, X: X)
                for threads in [1, 2] {
                    let stride = rows + 5
                    var Y = [Float](repeating: .nan, count: n * stride)
                    try bytes.withUnsafeBytes { raw in
                        let w = try WeightMatrix(type: t, rows: rows, cols: cols, base: raw.baseAddress!)
                        #expect(w.rowBytes == t.byteCount(elements: cols))
                        MatMul.apply(w, x: X, n: n, y: &Y, yStride: stride, pool: ThreadPool(threads: threads))
                    }
                    var worst = 0.0
                    for i in 0 ..< n {
                        for r in 0 ..< rows {
                            worst = max(worst, abs(Double(Y[i * stride + r]) - ref[i * rows + r]) / (absSum[i * rows + r] + 1e-30))
                        }
                        let untouched = Y[i * stride + rows ..< (i + 1) * stride].allSatisfy { $0.isNaN }
                        #expect(untouched, "wrote past rows")
                    }
                    #expect(worst <= 1e-6, "\(t) \(rows)×\(cols) n=\(n) threads=\(threads): relative error \(worst)")
                }
            }
        }
    }

    @Test func rejectsBadMatrices() throws {
        let buf = [UInt8](repeating: 0, count: 1024)
        try buf.withUnsafeBytes { raw in
            #expect(throws: KernelError.self) { try WeightMatrix(type: .q8_0, rows: 2, cols: 48, base: raw.baseAddress!) }
            #expect(throws: KernelError.self) { try WeightMatrix(type: .q8_K, rows: 1, cols: 256, base: raw.baseAddress!) } // activations only
            let w = try WeightMatrix(type: .q8_0, rows: 3, cols: 64, base: raw.baseAddress!)
            #expect(w.row(2) == raw.baseAddress! + 2 * 68)
        }
    }
}
