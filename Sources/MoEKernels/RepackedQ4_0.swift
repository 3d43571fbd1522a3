import CKernels
import MoEFormats

/// Q4_0 weights repacked 8 rows at a time for the one-token product (`moe_repack.h`): the same bytes in
/// an order the AVX2 kernel streams as one sequence (one scale load and four code loads per block of 8
/// rows), 91–95% of a streaming read on one core against 77–80% for row-major Q4_0. Results equal the
/// row-major kernel's (`MatMul` with 8-bit activations, one token) bit for bit.
///
/// Owns its memory (a copy: a memory-mapped file cannot be reordered in place). Rows past the last full
/// group of 8 are not repacked; `multiply` leaves them to the caller.
public final class RepackedQ4_0: RepackedRows, @unchecked Sendable {
    public let rows: Int, cols: Int
    public var groupRows: Int { 8 }
    /// Rows held in the x8 layout: `rows` rounded down to a multiple of 8.
    public var packedRows: Int { rows / 8 * 8 }
    public let base: UnsafeMutableRawPointer
    public var byteCount: Int { Int(moe_q4_0x8_bytes(Int64(packedRows), Int64(cols))) }

    /// Repacks a Q4_0 matrix (`cols` a multiple of 32, at most 32,768).
    public init(_ w: WeightMatrix) throws {
        guard w.type == .q4_0 else { throw KernelError.unsupportedType(tensor: "RepackedQ4_0", type: w.type) }
        guard w.cols % 32 == 0, w.cols / 32 <= 1024 else {
            throw KernelError.badShape(tensor: "RepackedQ4_0", shape: [w.rows, w.cols], reason: "needs rows of at most 32,768 elements")
        }
        rows = w.rows
        cols = w.cols
        base = .allocate(byteCount: max(1, Int(moe_q4_0x8_bytes(Int64(w.rows / 8 * 8), Int64(w.cols)))), alignment: 64)
        moe_repack_q4_0x8(Int64(w.rows / 8 * 8), Int64(w.cols), w.base, w.rowBytes, base)
    }

    deinit { base.deallocate() }

    /// y[8·g0 ..< 8·g1] = W x for row groups g0 ..< g1 (of `packedRows / 8`); `x`: one token's Q8_0 row.
    public func multiply(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>) {
        moe_gemv_q4_0x8(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(cols), base, x, y)
    }

    /// The scalar reference of `multiply`.
    public func multiplyGeneric(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>) {
        moe_gemv_q4_0x8_generic(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(cols), base, x, y)
    }
}
