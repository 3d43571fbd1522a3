import CKernels
import MoEFormats

/// Rows of a weight matrix kept a second time in a layout that a one-token kernel streams as one sequence
/// (`moe_repack.h`), with results equal to the row-major products' bit for bit. `MatMul` sends whole groups
/// of `groupRows` rows of single-token products on 8-bit activations here; the rows after the last whole
/// group stay with the row-major kernels.
public protocol RepackedRows: AnyObject, Sendable {
    /// Rows per group of the layout (8 for Q4_0, 16 for MXFP4).
    var groupRows: Int { get }
    /// Rows held in the layout: whole groups.
    var packedRows: Int { get }
    /// Bytes of the copy.
    var byteCount: Int { get }
    /// y[groupRows·g ..< groupRows·g'] for groups g ..< g'; `x`: one token's 8-bit activations.
    func multiply(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>)
}

/// MXFP4 weights repacked 16 rows at a time for the AVX-512 one-token kernel: the 16 rows' exponent bytes
/// together, then their codes in the order the kernel loads them, so a block step is one exponent load and
/// four code loads instead of 16 row loads and a gather (82% of a streaming read on one core against ≈50%
/// row-major, AVX-512 machine). Results equal the AVX-512 level's row-major MXFP4 products bit for bit (and
/// `multiplyGeneric` computes the same on any CPU), so it is made only where that level is the one in use.
public final class RepackedMXFP4: RepackedRows, @unchecked Sendable {
    public let rows: Int, cols: Int
    public var groupRows: Int { 16 }
    public var packedRows: Int { rows / 16 * 16 }
    public let base: UnsafeMutableRawPointer
    public var byteCount: Int { Int(moe_mxfp4x16_bytes(Int64(packedRows), Int64(cols))) }

    /// Whether this CPU's dispatched MXFP4 kernels are the ones the layout reproduces.
    public static var available: Bool { Kernels.levels.upperBound >= 2 && Kernels.simdActive }

    /// Repacks an MXFP4 matrix (`cols` a multiple of 32, at most 32,768).
    public init(_ w: WeightMatrix) throws {
        guard w.type == .mxfp4 else { throw KernelError.unsupportedType(tensor: "RepackedMXFP4", type: w.type) }
        guard w.cols % 32 == 0, w.cols / 32 <= 1024 else {
            throw KernelError.badShape(tensor: "RepackedMXFP4", shape: [w.rows, w.cols], reason: "needs rows of at most 32,768 elements")
        }
        rows = w.rows
        cols = w.cols
        base = .allocate(byteCount: max(1, Int(moe_mxfp4x16_bytes(Int64(w.rows / 16 * 16), Int64(w.cols)))), alignment: 64)
        moe_repack_mxfp4x16(Int64(w.rows / 16 * 16), Int64(w.cols), w.base, w.rowBytes, base)
    }

    deinit { base.deallocate() }

    public func multiply(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>) {
        moe_gemv_mxfp4x16(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(cols), base, x, y)
    }

    /// The scalar reference of `multiply` (the AVX-512 level's arithmetic).
    public func multiplyGeneric(groups: Range<Int>, x: UnsafeRawPointer, y: UnsafeMutablePointer<Float>) {
        moe_gemv_mxfp4x16_generic(Int64(groups.lowerBound), Int64(groups.upperBound), Int64(cols), base, x, y)
    }
}
