import Dispatch
import MoEFormats
import MoEKernels

/// Generates a file tensor's values and writes them in its stored type, a slab of rows at a time: the rows of a
/// slab are split between threads (each row has its own random stream, so the bytes do not depend on the
/// split), quantized into one buffer, and that buffer goes to the sink. Memory: one slab buffer
/// (≤ `slabElements` × 4 bytes) plus one float row per thread, whatever the tensor's size.
public struct TensorProducer: Sendable {
    public let seed: UInt64
    public let threads: Int
    /// Elements generated per slab (2 Mi: an 8 MiB buffer at most, f32).
    public var slabElements = 1 << 21

    public init(seed: UInt64, threads: Int) {
        self.seed = seed
        self.threads = max(1, threads)
    }

    /// Writes all of `t`'s bytes to `sink`, calling `written` with the byte count after each slab
    /// (for progress; it may throw to stop, e.g. on Ctrl-C).
    public func write(_ t: FileTensor, to sink: TensorSink, written: (Int) throws -> Void = { _ in }) throws {
        let cols = t.spec.rowLength, rowBytes = t.rowBytes
        let slabRows = max(1, min(t.rowCount, slabElements / cols))
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: slabRows * rowBytes, alignment: 64)
        defer { buffer.deallocate() }
        var done = 0
        while done < t.rowCount {
            let n = min(slabRows, t.rowCount - done)
            fill(t, rows: t.firstRow + done ..< t.firstRow + done + n, into: buffer)
            try sink.write(UnsafeRawBufferPointer(start: buffer, count: n * rowBytes))
            try written(n * rowBytes)
            done += n
        }
    }

    /// Generates spec rows `rows` and stores them as `t.type`, back to back, at `out`.
    func fill(_ t: FileTensor, rows: Range<Int>, into out: UnsafeMutableRawPointer) {
        let job = Job(spec: t.spec, type: t.type, throughF16: t.throughF16, seed: seed, out: out, rowBytes: t.rowBytes,
                      first: rows.lowerBound)
        // Split rows between threads only when there is enough work (≈ 64 Ki elements a thread).
        let parts = min(threads, rows.count, max(1, rows.count * t.spec.rowLength / (1 << 16)))
        if parts == 1 {
            job.run(rows)
            return
        }
        let per = (rows.count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = rows.lowerBound + p * per, hi = min(lo + per, rows.upperBound)
            if lo < hi { job.run(lo ..< hi) }
        }
    }

    /// One slab's work, shared by the threads; each writes its own rows of `out`.
    private struct Job: @unchecked Sendable {
        let spec: WeightSpec
        let type: TensorType
        let throughF16: Bool
        let seed: UInt64
        let out: UnsafeMutableRawPointer
        let rowBytes: Int
        let first: Int

        func run(_ rows: Range<Int>) {
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: spec.rowLength)
            defer { scratch.deallocate() }
            for r in rows {
                spec.fillRow(r, seed: seed, into: scratch)
                if throughF16 { for i in 0 ..< spec.rowLength { scratch[i] = Float(Float16(scratch[i])) } }
                Quantize.row(type: type, src: scratch, dst: out + (r - first) * rowBytes, count: spec.rowLength)
            }
        }
    }
}
