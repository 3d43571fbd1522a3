import CKernels
import MoEFormats

/// Quantized (or half-precision) rows → float32.
public enum Dequantize {
    /// Converts `count` elements (a multiple of `type.blockSize`) stored at `src`
    /// (`type.byteCount(elements: count)` bytes) into `dst[0 ..< count]`.
    /// Traps on a type the kernels do not support (`type.isSupported`) or a partial block.
    @inline(__always)
    public static func row(type: TensorType, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
        let rc = moe_dequantize_row(type.rawValue, src, dst, Int64(count))
        precondition(rc == 0, "Dequantize.row: unsupported type \(type) or \(count) not a multiple of \(type.blockSize)")
    }

    /// The scalar reference code for the same conversion, whatever the CPU (same bits as `row`).
    public static func rowGeneric(type: TensorType, src: UnsafeRawPointer, dst: UnsafeMutablePointer<Float>, count: Int) {
        let rc = moe_dequantize_row_generic(type.rawValue, src, dst, Int64(count))
        precondition(rc == 0, "Dequantize.rowGeneric: unsupported type \(type) or \(count) not a multiple of \(type.blockSize)")
    }

    /// Convenience for tests and tools: a whole row into a new array.
    public static func row(type: TensorType, src: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, n in
            row(type: type, src: src, dst: buf.baseAddress!, count: count)
            n = count
        }
    }
}
