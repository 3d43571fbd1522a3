import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// Not a test: GFLOP/s of MatMul.apply, printed. Run with MOE_BENCH=1 (release build).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["MOE_BENCH"] != nil, "set MOE_BENCH=1 to run the MatMul benchmark"),
       .serialized)
struct MatMulBenchmark {
    static func measure(_ t: TensorType, rows: Int, cols: Int, n: Int, threads: Int) -> Double {
        var rng = SeededRNG(seed: 1)
        let v = (0 ..< rows * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        let bytes: [UInt8] = t == .bf16 ? v.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { [UInt8]($0) }
                                        : randomBlocks(t, blocks: rows * cols / t.blockSize, rng: &rng)
        let x = (0 ..< n * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
        var y = [Float](repeating: 0, count: n * rows)
        let flops = 2.0 * Double(rows * cols * n)
        return bytes.withUnsafeBytes { raw in
            let w = try! WeightMatrix(type: t, rows: rows, cols: cols, base: raw.baseAddress!)
            let pool = ThreadPool(threads: threads)
            var best = Double.infinity
            for _ in 0 ..< 5 {
                let reps = max(1, Int(2e8 / flops))
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0 ..< reps { MatMul.apply(w, x: x, n: n, y: &y, pool: pool) }
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(reps)
                best = min(best, dt)
            }
            return flops / best / 1e9
        }
    }

    @Test func report() {
        print("features: \(Kernels.features), physical cores \(ThreadPool.physicalCores)")
        for (t, rows, cols) in [(TensorType.bf16, 256, 4096), (.bf16, 4096, 256), (.q8_0, 256, 4096), (.q4_0, 256, 4096)] {
            for n in [1, 512] {
                for threads in [1, 2] {
                    let g = Self.measure(t, rows: rows, cols: cols, n: n, threads: threads)
                    print(String(format: "%@ %4d×%4d n=%3d threads=%d: %6.1f GFLOP/s", t.description, rows, cols, n, threads, g))
                }
            }
        }
    }
}
