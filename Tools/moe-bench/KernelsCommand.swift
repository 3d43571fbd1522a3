import ArgumentParser
import Foundation
import MoEFormats
import MoEKernels
import MoEModel

/// `moe-bench kernels`: the matrix-vector kernels' memory bandwidth against a plain streaming read of
/// the same bytes, on one core and on all, through the engine's own MatMul and thread pool.
struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels",
        abstract: "Matrix-vector GB/s of each weight type (row-major and, where a repacked layout serves this CPU, repacked x8/x16: Q4_0, MXFP4, K-quants, IQ4, Q8_0, …) against a streaming read, 1 thread and all threads.",
        discussion: """
        The weights are a stack of matrices of --rows × --cols (default: olmoe-like experts, 1024 × 2048)
        filling --megabytes of memory, far more than the last-level cache, so every byte comes from DRAM.
        One token (decode): each pass multiplies every matrix once, as the forward pass would, rows split
        across the pool's threads. The streaming read sums the same bytes with AVX2, split the same way.
        GB/s = weight bytes / time (medians of --reps passes); the ratio is the median over passes of
        matvec ÷ stream, each pass timing one stream and one matvec back to back. The 256-element types
        (the K-quants, IQ4_XS) are skipped when --cols is not a multiple of 256.
        """)

    @Option(help: "Rows of each matrix.") var rows = 1024
    @Option(help: "Columns of each matrix (a multiple of 32).") var cols = 2048
    @Option(help: "Total weight bytes per type, in MiB.") var megabytes = 512
    @Option(name: .shortAndLong, help: "Passes; the median is reported.") var reps = 7
    @Option(help: "Also write the results as JSON to this file.") var json: String?
    @Flag(help: "Measure every repacked layout whose kernels this CPU runs (x8 with AVX2, x16 with AVX-512), not only the one the engine picks.")
    var everyLayout = false
    @Option(help: "Types to measure, comma-separated (default: all of them).") var types = "q4_0,q8_0,q5_0,q5_1,iq4_nl,mxfp4,q4_k,q5_k,q6_k,q3_k,q2_k,iq4_xs"

    func validate() throws {
        guard rows >= 1, cols >= 32, cols % 32 == 0 else { throw ValidationError("--cols must be a multiple of 32") }
        guard megabytes >= 1, reps >= 1 else { throw ValidationError("--megabytes and --reps must be ≥ 1") }
        for name in types.split(separator: ",") where !Self.benchTypes.contains(where: { $0.description == name.uppercased() }) {
            throw ValidationError("unknown --types entry '\(name)' (\(Self.benchTypes.map { $0.description.lowercased() }.joined(separator: ", ")))")
        }
    }

    /// Types with a matrix-vector kernel that this command can fill with sane blocks (256-element types need
    /// --cols a multiple of 256).
    static let benchTypes: [TensorType] = [.q4_0, .q8_0, .q5_0, .q5_1, .iq4_nl, .mxfp4, .q4_K, .q5_K, .q6_K, .q3_K, .q2_K, .iq4_xs]

    struct Row: Encodable { let type: String; let threads: Int; let stream_gbs: Double; let matvec_gbs: Double; let ratio: Double }

    func run() throws {
        var results: [Row] = []
        print("kernels: \(Kernels.features); \(rows) × \(cols) matrices, \(megabytes) MiB per type, median of \(reps)")
        print("| type | threads | stream GB/s | matvec GB/s | matvec ÷ stream |")
        print("|---|---|---|---|---|")
        let chosen = Self.benchTypes.filter { t in types.split(separator: ",").contains { $0.uppercased() == t.description } }
        for type in chosen where cols % type.blockSize == 0 {
            let rowBytes = cols / type.blockSize * type.blockBytes
            let count = max(1, megabytes << 20 / (rows * rowBytes))
            let bytes = count * rows * rowBytes
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
            defer { buffer.deallocate() }
            Self.fillBlocks(buffer, bytes: bytes, type: type)
            let matrices = try (0 ..< count).map {
                try WeightMatrix(type: type, rows: rows, cols: cols, base: buffer + $0 * rows * rowBytes)
            }
            var x = (0 ..< cols).map { Float(($0 * 7919) % 13) - 6 }
            let xq = try QuantizedActivations(for: matrices[0], capacity: 1)
            x.withUnsafeMutableBufferPointer { xq.quantize($0.baseAddress!, rows: 1) }
            let y = UnsafeMutablePointer<Float>.allocate(capacity: count * rows)
            defer { y.deallocate() }
            for threads in Set([1, ThreadPool.maxThreads]).sorted() {
                let pool = ThreadPool(threads: threads)
                let products = matrices.enumerated().map { i, m in
                    MatMul.Product(m, x: x, n: 1, y: y + i * rows, xq: xq)
                }
                // Stream and matvec passes alternate, and the ratio is taken pass by pair, so a burst of
                // load from elsewhere on the machine hits both sides of a ratio alike.
                // The streaming read of the same bytes, split across the threads as the products are.
                let streamPass = {
                    pool.run { w in
                        let per = (bytes / pool.threadCount + 4095) & ~4095
                        let lo = min(bytes, w * per), hi = min(bytes, lo + per)
                        if hi > lo { Self.sink &+= Kernels.streamSum(buffer + lo, count: hi - lo) }
                    }
                }
                let pairs = Self.pairs(reps, streamPass, { MatMul.run(products, pool: pool) })
                let stream = Summary(pairs.map(\.0)).median, matvec = Summary(pairs.map(\.1)).median
                let row = Row(type: type.description, threads: pool.threadCount, stream_gbs: Double(bytes) / stream / 1e9,
                              matvec_gbs: Double(bytes) / matvec / 1e9, ratio: Summary(pairs.map { $0.0 / $0.1 }).median)
                results.append(row)
                print(String(format: "| %@ | %d | %.1f | %.1f | %.0f%% |", row.type, row.threads, row.stream_gbs, row.matvec_gbs, row.ratio * 100))
                // The same matrices repacked for the one-token kernels (8 rows at a time where the AVX2 level runs, 16 where
                // the AVX-512 one does; with --every-layout each layout this CPU can run), each pass splitting every
                // matrix's row groups across the threads.
                let layouts = everyLayout ? RepackedRows.Layout.runnable(type) : RepackedRows.Layout.forType(type).map { [$0] } ?? []
                for layout in layouts where rows % layout.groupRows == 0 && cols <= layout.maxCols {
                    let packed = try matrices.map { try RepackedRows($0, layout: layout) }
                    let label = layout.name + (layout.available() ? "" : " (not the level in use)")
                    let groups = rows / packed[0].groupRows
                    let pairsPacked = Self.pairs(reps, streamPass, {
                        pool.run { w in
                            let g0 = groups * w / pool.threadCount, g1 = groups * (w + 1) / pool.threadCount
                            for (i, m) in packed.enumerated() { m.multiply(groups: g0 ..< g1, x: xq.row(0), y: y + i * rows) }
                        }
                    })
                    let r = Row(type: label, threads: pool.threadCount, stream_gbs: Double(bytes) / Summary(pairsPacked.map(\.0)).median / 1e9,
                                matvec_gbs: Double(bytes) / Summary(pairsPacked.map(\.1)).median / 1e9,
                                ratio: Summary(pairsPacked.map { $0.0 / $0.1 }).median)
                    results.append(r)
                    print(String(format: "| %@ | %d | %.1f | %.1f | %.0f%% |", r.type, r.threads, r.stream_gbs, r.matvec_gbs, r.ratio * 100))
                }
            }
        }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(results).write(to: URL(fileURLWithPath: json))
        }
    }

    nonisolated(unsafe) static var sink: UInt64 = 0

    /// Seconds of `reps` (a, b) pairs of timed calls, a then b, after one untimed warm-up call of each.
    static func pairs(_ reps: Int, _ a: () -> Void, _ b: () -> Void) -> [(Double, Double)] {
        a()
        b()
        let clock = ContinuousClock()
        func time(_ f: () -> Void) -> Double {
            let t0 = clock.now
            f()
            return (clock.now - t0).seconds
        }
        return (0 ..< reps).map { _ in (time(a), time(b)) }
    }

    /// Random codes with small finite f16 scales in each block's f16 fields (ggml layouts).
    /// Random codes with small finite scales: f16 d in the first two bytes of each 32-element block (and
    /// Q5_1's f16 m in the next two), MXFP4's E8M0 exponent byte in 118 …< 126.
    static func fillBlocks(_ p: UnsafeMutableRawPointer, bytes: Int, type: TensorType) {
        var rng = SeededGenerator(seed: 7)
        var i = 0
        while i + 8 <= bytes { p.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self); i += 8 }
        let halves: [Int] = switch type {
        case .q4_K, .q5_K, .q4_1, .q5_1: [0, 2]
        case .q6_K, .q3_K: [type.blockBytes - 2]
        case .q2_K: [80, 82]
        default: [0]
        }
        var b = 0
        while b + type.blockBytes <= bytes {
            if type == .mxfp4 {
                p.storeBytes(of: UInt8(118 + rng.next() % 8), toByteOffset: b, as: UInt8.self)
            } else {
                for h in halves { p.storeBytes(of: UInt16(0x2000 | (rng.next() & 0x7FF)), toByteOffset: b + h, as: UInt16.self) }
            }
            b += type.blockBytes
        }
    }
}
