import CKernels
import MoEFormats

/// float32 → stored types, round-to-nearest, bit for bit as ggml's reference quantizers
/// (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, `quantize_row_q4_1_ref` in ggml-quants.c, which is what
/// `llama-quantize` runs when it has no importance matrix) and as ggml converts to f16 / bf16.
/// The C code is in `CKernels/quantize_ref.c`.
///
/// Block types, for 32 floats x:
/// - Q8_0: d = amax / 127, q = round(x / d) (ties away from zero); stores f16 d, 32 × int8.
/// - Q4_0: the element of largest magnitude, with its sign, gets code 0: d = max / −8,
///   q = min(15, trunc(x / d + 8.5)); element j in the low nibble of byte j, element j + 16 in the high one.
/// - Q4_1: d = (max − min) / 15, m = min, q = min(15, trunc((x − min) / d + 0.5)).
/// - Q6_K (256 elements): ggml's make_qx_quants per 16 (19 trial scales, least squares), int8 sub-scales
///   under an f16 super-scale; `CKernels/quantize_k.c`.
/// Scales are computed in float32, stored as f16 (round to nearest even); codes use the unrounded scale.
/// Inputs must be finite.
public enum Quantize {
    /// The types `row` can write.
    public static let supportedTypes: Set<TensorType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q6_K]

    /// Converts `count` floats at `src` (a multiple of `type.blockSize`) into
    /// `type.byteCount(elements: count)` bytes at `dst`.
    public static func row(type: TensorType, src: UnsafePointer<Float>, dst: UnsafeMutableRawPointer, count: Int) {
        precondition(count % type.blockSize == 0, "Quantize.row: \(count) is not a multiple of \(type.blockSize)")
        let n = Int64(count)
        switch type {
        case .f32: dst.copyMemory(from: src, byteCount: count * 4)
        case .f16: moe_convert_row_f16(src, dst.assumingMemoryBound(to: UInt16.self), n)
        case .bf16: moe_convert_row_bf16(src, dst.assumingMemoryBound(to: UInt16.self), n)
        case .q8_0: moe_quantize_ref_q8_0(src, dst.assumingMemoryBound(to: block_q8_0.self), n)
        case .q4_0: moe_quantize_ref_q4_0(src, dst.assumingMemoryBound(to: block_q4_0.self), n)
        case .q4_1: moe_quantize_ref_q4_1(src, dst.assumingMemoryBound(to: block_q4_1.self), n)
        case .q6_K: moe_quantize_q6_K(src, dst.assumingMemoryBound(to: block_q6_K.self), n, nil)
        default: preconditionFailure("Quantize.row: type \(type) has no quantizer")
        }
    }

    /// Convenience for tests and tools: a whole row into new bytes.
    public static func row(type: TensorType, _ values: [Float]) -> [UInt8] {
        let bytes = type.byteCount(elements: values.count)!
        return [UInt8](unsafeUninitializedCapacity: bytes) { buf, n in
            values.withUnsafeBufferPointer { row(type: type, src: $0.baseAddress!, dst: buf.baseAddress!, count: values.count) }
            n = bytes
        }
    }

    /// IEEE binary16 bits, round to nearest even (GGML_FP32_TO_FP16).
    public static func f16Bits(_ x: Float) -> UInt16 { moe_f32_to_f16(x) }

    /// bfloat16 bits, round to nearest even; NaNs stay NaN (quiet), as ggml_compute_fp32_to_bf16.
    public static func bf16Bits(_ x: Float) -> UInt16 { moe_f32_to_bf16(x) }
}
