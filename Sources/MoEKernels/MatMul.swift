import CKernels
import Dispatch
import Foundation
import MoEFormats

/// y = x · Wᵀ for a stored-type weight matrix and float32 token vectors.
public enum MatMul {
    /// Threads used when the caller does not say: the active processor count.
    public static let defaultThreads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Multiply-adds (rows · cols · n) a thread must get before another one is started:
    /// ≈ 50 µs of decode work, against 10–40 µs to wake a worker on a busy 2-core machine.
    public static let minWorkPerThread = 1 << 19

    /// y[t * yStride + r] = Σ_c w[r, c] · x[t * w.cols + c] for t < n, r < w.rows.
    ///
    /// - x: n token vectors of `w.cols` floats, back to back.
    /// - y: n rows of `yStride` floats (default `w.rows`); only the first `w.rows` of each are written.
    /// - threads: most threads to use (rows are split between them when the work is big enough).
    ///
    /// Quantized rows are dequantized a tile at a time into the thread's scratch and multiplied there,
    /// so each weight row is dequantized once per call whatever n is. F32 weights are used in place.
    public static func apply(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                             yStride: Int? = nil, threads: Int = defaultThreads) {
        let ldy = yStride ?? w.rows
        precondition(n >= 0 && ldy >= w.rows, "MatMul.apply: bad n \(n) or yStride \(ldy) < rows \(w.rows)")
        if n == 0 || w.rows == 0 { return }
        let job = Job(w: w, x: x, n: n, y: y, ldy: ldy)
        let work = w.rows * w.cols * n
        // Split rows in multiples of 4 (the gemm's row block) between at most `threads` threads.
        let parts = min(max(1, threads), max(1, work / minWorkPerThread), (w.rows + 3) / 4)
        if parts == 1 {
            job.run(rows: 0 ..< w.rows)
            return
        }
        let per = ((w.rows + parts - 1) / parts + 3) & ~3
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = min(p * per, w.rows), hi = min(lo + per, w.rows)
            if lo < hi { job.run(rows: lo ..< hi) }
        }
    }

    /// Rows per dequantized tile (at most 64; a multiple of 4, the gemm's row block, from 4 rows up).
    /// Few tokens: the tile should stay in L1 (≈16 KiB), as each weight is used only n times once
    /// written. Many tokens: big tiles (≈1 MiB, L2) so the token vectors are streamed fewer times.
    static func tileRows(cols: Int, n: Int) -> Int {
        let targetBytes = n <= 2 ? 16 << 10 : n <= 8 ? 64 << 10 : 1 << 20
        let r = min(64, max(1, targetBytes / max(1, cols * MemoryLayout<Float>.stride)))
        return r >= 4 ? r & ~3 : r
    }

    /// One call's operands, shared read-only by the threads (each writes its own rows of y).
    private struct Job: @unchecked Sendable {
        let w: WeightMatrix
        let x: UnsafePointer<Float>
        let n: Int
        let y: UnsafeMutablePointer<Float>
        let ldy: Int

        func run(rows: Range<Int>) {
            let cols = w.cols
            if w.type == .f32 {
                let wf = w.row(rows.lowerBound).assumingMemoryBound(to: Float.self)
                moe_gemm_f32(Int64(rows.count), Int64(n), Int64(cols), wf, x, y + rows.lowerBound, Int64(ldy))
                return
            }
            let tile = MatMul.tileRows(cols: cols, n: n)
            guard let raw = moe_thread_scratch(0, min(tile, rows.count) * cols * MemoryLayout<Float>.stride) else {
                fatalError("MatMul.apply: out of memory for scratch")
            }
            let scratch = raw.assumingMemoryBound(to: Float.self)
            var r = rows.lowerBound
            while r < rows.upperBound {
                let m = min(tile, rows.upperBound - r)
                // Rows are contiguous, so a tile of m rows is one run of m * cols elements.
                moe_dequantize_row(w.type.rawValue, w.row(r), scratch, Int64(m * cols))
                moe_gemm_f32(Int64(m), Int64(n), Int64(cols), scratch, x, y + r, Int64(ldy))
                r += m
            }
        }
    }
}
