import CKernels
import Dispatch
import Foundation
import MoEFormats

/// Which weight matrices a model keeps repacked (`RepackedRows`).
public enum RepackPolicy: String, Sendable, CaseIterable {
    /// Row-major rows only.
    case none
    /// Where a layout serves every product on 8-bit activations (on AVX2 machines the x8 layouts of Q4_0, MXFP4,
    /// Q4_K, Q3_K and IQ4_XS; where the AVX-512 kernels run, the x16 layouts of Q4_0, MXFP4, Q4_K, Q6_K, Q3_K and IQ4_XS),
    /// its copy replaces the row-major rows: their file pages are released once repacked, so memory holds one copy.
    /// Other types stay row-major.
    case replacing
    /// Also layouts that serve decode only, which keep the row-major rows for prefill (a second copy). Every layout
    /// of today serves prefill too, so this equals `replacing`.
    case all
}

/// Rows of a weight matrix kept a second time in a layout that a one-token kernel streams as one sequence
/// (`moe_repack.h`): the same bytes as the row-major rows, reordered so that a block step of a group of rows
/// is a few contiguous loads instead of one load per row and a gather of scales. Results equal the
/// row-major products bit for bit, so `MatMul` sends whole groups of single-token products on 8-bit
/// activations here; the rows after the last whole group stay with the row-major kernels.
///
/// Owns its memory (a copy: a memory-mapped file cannot be reordered in place).
public final class RepackedRows: @unchecked Sendable {
    /// One layout: its C functions and where it applies.
    public struct Layout: @unchecked Sendable {
        public typealias Repack = @convention(c) (Int64, Int64, UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Void
        public typealias Multiply = @convention(c) (Int64, Int64, Int64, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeMutablePointer<Float>?) -> Void
        public typealias MultiplyTokens = @convention(c) (Int64, Int64, Int64, Int64, UnsafeRawPointer?, UnsafeRawPointer?,
                                                          UnsafeMutablePointer<Float>?, Int64) -> Void

        /// What `moe-bench kernels` calls it.
        public let name: String
        public let type: TensorType
        /// Rows per group.
        public let groupRows: Int
        /// Longest row the kernel takes (elements).
        public let maxCols: Int
        /// Whether the row-major products this layout reproduces are the ones this CPU runs: the x8 layout's
        /// kernels match the AVX2 and generic levels', the x16 layouts' the AVX-512 level's.
        public let available: @Sendable () -> Bool
        let repack: Repack
        let multiply: Multiply
        let multiplyGeneric: Multiply
        /// Several tokens at once (prefill), where the layout has such a kernel: then the copy serves every
        /// product on 8-bit activations and the row-major rows need not stay in memory (`servesAll`).
        let multiplyTokens: MultiplyTokens?
        let multiplyTokensGeneric: MultiplyTokens?
        /// Whether the copy serves prefill as well as decode.
        public var servesAll: Bool { multiplyTokens != nil }

        init(name: String, type: TensorType, groupRows: Int, maxCols: Int, available: @escaping @Sendable () -> Bool,
             repack: Repack, multiply: Multiply, multiplyGeneric: Multiply,
             multiplyTokens: MultiplyTokens? = nil, multiplyTokensGeneric: MultiplyTokens? = nil) {
            (self.name, self.type, self.groupRows, self.maxCols, self.available) = (name, type, groupRows, maxCols, available)
            (self.repack, self.multiply, self.multiplyGeneric) = (repack, multiply, multiplyGeneric)
            (self.multiplyTokens, self.multiplyTokensGeneric) = (multiplyTokens, multiplyTokensGeneric)
        }

        private static let avx512InUse: @Sendable () -> Bool = { Kernels.levels.upperBound >= 2 && Kernels.simdActive }
        /// The x8 kernels run AVX2 code wherever the CPU has AVX2 and the generic code elsewhere (no NEON): they
        /// match the row-major products where the level in use is the AVX2 one, or the generic one on a CPU
        /// without AVX2.
        private static let x8MatchesRowMajor: @Sendable () -> Bool = {
            #if arch(x86_64)
            let inUse = Kernels.simdActive ? Kernels.levels.upperBound : 0
            return inUse == 1 || Kernels.levels.upperBound == 0
            #else
            return false
            #endif
        }

        /// Q4_0, 8 rows, where the AVX2 level is the one in use (x86 without AVX-512): 91–95% of a streaming read on
        /// one core against 77–80% row-major (AVX2 machine); serves several tokens too (the AVX2 tiles' arithmetic).
        public static let q4_0x8 = Layout(name: "Q4_0 x8", type: .q4_0, groupRows: 8, maxCols: 1024 * 32, available: x8MatchesRowMajor,
                                          repack: moe_repack_q4_0x8, multiply: moe_gemv_q4_0x8, multiplyGeneric: moe_gemv_q4_0x8_generic,
                                          multiplyTokens: moe_mmq_q4_0x8, multiplyTokensGeneric: moe_mmq_q4_0x8_generic)
        /// MXFP4, 8 rows, where the AVX2 level is the one in use: the row-major kernel's block arithmetic with one
        /// exponent load and four code loads per 8 rows' block; serves several tokens too (tile_mxfp4's arithmetic).
        public static let mxfp4x8 = Layout(name: "MXFP4 x8", type: .mxfp4, groupRows: 8, maxCols: 1024 * 32, available: x8MatchesRowMajor,
                                           repack: moe_repack_mxfp4x8, multiply: moe_gemv_mxfp4x8, multiplyGeneric: moe_gemv_mxfp4x8_generic,
                                           multiplyTokens: moe_mmq_mxfp4x8, multiplyTokensGeneric: moe_mmq_mxfp4x8_generic)
        /// The K-quant x8 layouts' kernels compute the AVX2 level's per-row sums (which the AVX-512 level shares): where
        /// the AVX2 level is the one in use (x86 without AVX-512; on AVX-512 machines the x16 layouts run).
        private static let avx2InUse: @Sendable () -> Bool = {
            #if arch(x86_64)
            return Kernels.simdActive && Kernels.levels.upperBound == 1
            #else
            return false
            #endif
        }
        /// Q3_K, 8 rows, where the AVX2 level is in use: one row per 32-bit lane, so a sub-block's 8 rows meet their scales
        /// in one multiply-add and no lane is ever summed across; serves several tokens too (codes decoded once per step).
        public static let q3_Kx8 = Layout(name: "Q3_K x8", type: .q3_K, groupRows: 8, maxCols: Int(Int32.max), available: avx2InUse,
                                          repack: moe_repack_q3_Kx8, multiply: moe_gemv_q3_Kx8, multiplyGeneric: moe_gemv_q3_Kx8_generic,
                                          multiplyTokens: moe_mmq_q3_Kx8, multiplyTokensGeneric: moe_mmq_q3_Kx8_generic)
        /// Q4_K, 8 rows, where the AVX2 level is in use (as Q3_K's): a sub-block's 8 loads add up in int16 before their scales.
        public static let q4_Kx8 = Layout(name: "Q4_K x8", type: .q4_K, groupRows: 8, maxCols: Int(Int32.max), available: avx2InUse,
                                          repack: moe_repack_q4_Kx8, multiply: moe_gemv_q4_Kx8, multiplyGeneric: moe_gemv_q4_Kx8_generic,
                                          multiplyTokens: moe_mmq_q4_Kx8, multiplyTokensGeneric: moe_mmq_q4_Kx8_generic)
        /// IQ4_XS, 8 rows, where the AVX2 level is in use (as Q3_K's).
        public static let iq4_xsx8 = Layout(name: "IQ4_XS x8", type: .iq4_xs, groupRows: 8, maxCols: Int(Int32.max), available: avx2InUse,
                                            repack: moe_repack_iq4_xsx8, multiply: moe_gemv_iq4_xsx8, multiplyGeneric: moe_gemv_iq4_xsx8_generic,
                                            multiplyTokens: moe_mmq_iq4_xsx8, multiplyTokensGeneric: moe_mmq_iq4_xsx8_generic)
        /// MXFP4, 16 rows (AVX-512): ≈ 100% of a streaming read on one core against ≈ 55% row-major.
        public static let mxfp4x16 = Layout(name: "MXFP4 x16", type: .mxfp4, groupRows: 16, maxCols: 1024 * 32, available: avx512InUse,
                                            repack: moe_repack_mxfp4x16, multiply: moe_gemv_mxfp4x16, multiplyGeneric: moe_gemv_mxfp4x16_generic,
                                            multiplyTokens: moe_mmq_mxfp4x16, multiplyTokensGeneric: moe_mmq_mxfp4x16_generic)
        /// Q4_0, 16 rows (AVX-512): MXFP4's x16 kernel with f16 scales and codes used as they are.
        public static let q4_0x16 = Layout(name: "Q4_0 x16", type: .q4_0, groupRows: 16, maxCols: 1024 * 32, available: avx512InUse,
                                           repack: moe_repack_q4_0x16, multiply: moe_gemv_q4_0x16, multiplyGeneric: moe_gemv_q4_0x16_generic,
                                           multiplyTokens: moe_mmq_q4_0x16, multiplyTokensGeneric: moe_mmq_q4_0x16_generic)
        /// Q4_K, 16 rows (AVX-512), one row per 32-bit lane as the x8 layouts; serves several tokens too.
        public static let q4_Kx16 = Layout(name: "Q4_K x16", type: .q4_K, groupRows: 16, maxCols: Int(Int32.max), available: avx512InUse,
                                           repack: moe_repack_q4_Kx16, multiply: moe_gemv_q4_Kx16, multiplyGeneric: moe_gemv_q4_Kx16_generic,
                                           multiplyTokens: moe_mmq_q4_Kx16, multiplyTokensGeneric: moe_mmq_q4_Kx16_generic)
        /// Q6_K, 16 rows (AVX-512), one row per 32-bit lane; serves several tokens too (the K-quant mixes' other type).
        public static let q6_Kx16 = Layout(name: "Q6_K x16", type: .q6_K, groupRows: 16, maxCols: Int(Int32.max), available: avx512InUse,
                                           repack: moe_repack_q6_Kx16, multiply: moe_gemv_q6_Kx16, multiplyGeneric: moe_gemv_q6_Kx16_generic,
                                           multiplyTokens: moe_mmq_q6_Kx16, multiplyTokensGeneric: moe_mmq_q6_Kx16_generic)
        /// Q3_K, 16 rows (AVX-512), one row per 32-bit lane with the x8 layout's nibble triples; serves several tokens too.
        public static let q3_Kx16 = Layout(name: "Q3_K x16", type: .q3_K, groupRows: 16, maxCols: Int(Int32.max), available: avx512InUse,
                                           repack: moe_repack_q3_Kx16, multiply: moe_gemv_q3_Kx16, multiplyGeneric: moe_gemv_q3_Kx16_generic,
                                           multiplyTokens: moe_mmq_q3_Kx16, multiplyTokensGeneric: moe_mmq_q3_Kx16_generic)
        /// IQ4_XS, 16 rows (AVX-512), one row per 32-bit lane; serves several tokens too.
        public static let iq4_xsx16 = Layout(name: "IQ4_XS x16", type: .iq4_xs, groupRows: 16, maxCols: Int(Int32.max), available: avx512InUse,
                                             repack: moe_repack_iq4_xsx16, multiply: moe_gemv_iq4_xsx16, multiplyGeneric: moe_gemv_iq4_xsx16_generic,
                                             multiplyTokens: moe_mmq_iq4_xsx16, multiplyTokensGeneric: moe_mmq_iq4_xsx16_generic)

        public static let all: [Layout] = [.q4_0x8, .q4_0x16, .mxfp4x8, .mxfp4x16, .q4_Kx8, .q4_Kx16, .q6_Kx16, .q3_Kx8, .q3_Kx16, .iq4_xsx8, .iq4_xsx16]

        /// The layout for `type` where this CPU can use it.
        public static func forType(_ type: TensorType) -> Layout? { all.first { $0.type == type && $0.available() } }

        /// Every layout of `type` whose SIMD kernels this CPU can execute (x8: AVX2; x16: AVX-512), whether or not
        /// its products are the ones of the level in use: for `moe-bench kernels --every-layout`, which compares them.
        public static func runnable(_ type: TensorType) -> [Layout] {
            #if arch(x86_64)
            let best = Kernels.levels.upperBound
            return all.filter { $0.type == type && Kernels.simdActive && best >= ($0.groupRows == 16 ? 2 : 1) }
            #else
            return []
            #endif
        }
    }

    public let layout: Layout
    public let rows: Int, cols: Int
    public let base: UnsafeMutableRawPointer
    /// Whether `base` is this object's allocation (a copy) or bytes repacked in place that others own.
    private let ownsBytes: Bool
    /// Rows per group of the layout.
    public var groupRows: Int { layout.groupRows }
    /// Rows held in the layout: whole groups.
    public var packedRows: Int { rows / layout.groupRows * layout.groupRows }
    /// Bytes of the copy: exactly those of the packed rows in the row-major layout.
    public var byteCount: Int { packedRows * rowBytes }
    private let rowBytes: Int

    /// Repacks `w` into `layout` (the weight type must match; rows no longer than the layout's kernel takes).
    public init(_ w: WeightMatrix, layout: Layout) throws {
        let name = "repack \(layout.name)"
        guard w.type == layout.type else { throw KernelError.unsupportedType(tensor: name, type: w.type) }
        guard w.cols <= layout.maxCols else {
            throw KernelError.badShape(tensor: name, shape: [w.rows, w.cols], reason: "needs rows of at most \(layout.maxCols) elements")
        }
        self.layout = layout
        rows = w.rows
        cols = w.cols
        rowBytes = w.rowBytes
        let packed = w.rows / layout.groupRows * layout.groupRows
        base = .allocate(byteCount: max(1, packed * w.rowBytes), alignment: 64)
        ownsBytes = true
        // A group's bytes are its rows' bytes, so the groups split across the cores: each part repacks its
        // rows into the same byte range (a large model's load reads and reorders every byte once).
        let groups = packed / layout.groupRows, perPart = max(1, (1 << 20) / max(1, layout.groupRows * w.rowBytes))
        let parts = min(ProcessInfo.processInfo.activeProcessorCount, (groups + perPart - 1) / perPart)
        let (src, dst, rowBytes, cols) = (UInt(bitPattern: w.base), UInt(bitPattern: base), w.rowBytes, w.cols)   // (addresses: Sendable)
        DispatchQueue.concurrentPerform(iterations: max(1, parts)) { i in
            let g0 = groups * i / max(1, parts), g1 = groups * (i + 1) / max(1, parts)
            guard g1 > g0 else { return }
            let r0 = g0 * layout.groupRows
            layout.repack(Int64((g1 - g0) * layout.groupRows), Int64(cols), UnsafeRawPointer(bitPattern: src + UInt(r0 * rowBytes)), rowBytes,
                          UnsafeMutableRawPointer(bitPattern: dst + UInt(r0 * rowBytes)))
        }
    }

    deinit { if ownsBytes { base.deallocate() } }

    /// The layout a matrix of `type`, `rows` × `cols` can be repacked into in place for every product on 8-bit
    /// activations on this CPU (`Layout.servesAll`), or nil.
    public static func inPlaceLayout(type: TensorType, rows: Int, cols: Int) -> Layout? {
        guard let layout = Layout.forType(type), layout.servesAll, rows >= layout.groupRows, cols <= layout.maxCols else { return nil }
        return layout
    }

    /// Reorders `rows` row-major rows at `base` into `layout` where they lie: a group's bytes in the layout are
    /// its rows' bytes, so each run of groups is copied aside (`scratch`, at least one group's bytes; a few
    /// groups at a time stay in the core's caches) and repacked back; the rows after the last whole group stay
    /// row-major. `RepackedRows(inPlace:…)` then multiplies them.
    public static func repackInPlace(_ layout: Layout, base: UnsafeMutableRawPointer, rows: Int, cols: Int, rowBytes: Int,
                                     scratch: UnsafeMutableRawBufferPointer) {
        let groupBytes = layout.groupRows * rowBytes
        precondition(scratch.count >= groupBytes, "RepackedRows.repackInPlace: scratch smaller than a group")
        let groups = rows / layout.groupRows, perRun = scratch.count / groupBytes
        var g = 0
        while g < groups {
            let n = min(perRun, groups - g)
            let at = base + g * groupBytes
            scratch.baseAddress!.copyMemory(from: at, byteCount: n * groupBytes)
            layout.repack(Int64(n * layout.groupRows), Int64(cols), scratch.baseAddress, rowBytes, at)
            g += n
        }
    }

    /// Rows that `repackInPlace` reordered at `base` (kept alive by their owner): the packed groups first, the
    /// rows after the last whole group row-major after them, as in the matrix.
    public init(inPlace base: UnsafeRawPointer, layout: Layout, rows: Int, cols: Int, rowBytes: Int) {
        self.base = UnsafeMutableRawPointer(mutating: base)
        (self.layout, self.rows, self.cols, self.rowBytes, ownsBytes) = (layout, rows, cols, rowBytes, false)
    }

    /// y[groupRows·g ..< groupRows·g'] = W x for groups g ..< g' (of `packedRows / groupRows`); `x`: one token's
    /// 8-bit activations (Q8_0 blocks for Q4_0 and MXFP4, Q8_K for Q4_K, Q3_K and IQ4_XS).
    public func multiply(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>) {
        layout.multiply(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(cols), base, x, y)
    }

    /// Y[t·ldy + r] for `n` tokens (their 8-bit activation rows one after another at `x`) and the rows r of
    /// groups g ..< g'; only for layouts that serve all products (`layout.servesAll`).
    public func multiply(groups: Range<Int>, tokens n: Int, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>, ldy: Int, generic: Bool = false) {
        guard let f = generic ? layout.multiplyTokensGeneric : layout.multiplyTokens else {
            preconditionFailure("RepackedRows: \(layout.name) has no several-token kernel")
        }
        f(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(n), Int64(cols), base, x, y, Int64(ldy))
    }

    /// The scalar reference of `multiply` (the same arithmetic on any CPU).
    public func multiplyGeneric(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>) {
        layout.multiplyGeneric(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(cols), base, x, y)
    }
}
