import CKernels
import MoEFormats

/// Error-minimising quantizers for GGUF's Q8_0, Q4_0 and Q4_1 blocks: the same bytes layout as ggml's (llama.cpp and
/// ggml decode them unchanged), with each block's parameters chosen to make its reconstruction error as small as the
/// search finds, instead of ggml's fixed reference rounding (`Quantize.row`).
///
/// **What is minimised.** For every block of 32 consecutive elements x₀…x₃₁ of a row, with weights w₀…w₃₁,
///
///     E = Σⱼ wⱼ · (xⱼ − x̂ⱼ)²,   x̂ⱼ = d·qⱼ (Q8_0, Q4_0)  or  d·qⱼ + m (Q4_1),
///
/// where d (and m) are the values of the block's stored f16 fields and x̂ is exactly what the dequantizer computes
/// (`Dequantize.row`). E is in the squared units of x times the units of w. Without weights every wⱼ is 1 (plain
/// squared error). Weights describe columns: pass the same `count` weights for every row of a matrix, e.g. the mean
/// of the squared calibration activation of each input column (llama.cpp's importance matrix), so that errors on
/// columns that see large activations count more. A block whose weights are all zero is judged unweighted.
///
/// **How.** Per block, candidate scales are scored by the error their codes would leave under the least-squares scale
/// (and minimum) for those codes; the best is refined by alternating "least-squares d (and m) → round to f16 →
/// nearest codes for the stored f16 value → measured error"; f16 neighbours of the result are tried. Candidate scales:
/// Q4_0 maps the element of largest magnitude to code −c or +c, c over a grid around ggml's 8 (both signs of d);
/// Q4_1 spans the block's range with c steps, c around ggml's 15, anchored at the minimum or the maximum;
/// Q8_0 tries f16 values from amax / 127.5 up, a few f16 steps apart. ggml's reference encoding is always a candidate
/// and the final choice uses `error`'s own per-block sum, so no block's error exceeds the reference's.
/// Codes stay in ggml's ranges (Q8_0: −127…127, never −128); an f16 overflow of a scale is clamped to ±65504.
///
/// **Cost and gain** (one AVX2 core, effort 0, unweighted; `Tools/bench/qopt_bench.c`): the squared error against
/// ggml's reference drops by about 11 % for Q4_0 (an exhaustive search over all f16 scales reaches only 0.2 % more),
/// 20 % for Q4_1 and 20 % for Q8_0, on Gaussian rows and on the reference model's weights alike, at about 90, 50 and
/// 55 M elements/s. Higher efforts search more scales for a little more (see `moe_quantize.h`). Weighted rows search
/// more widely, at about half the speed. The bytes depend only on the inputs and the effort — not on the CPU, the
/// SIMD path or the thread count.
public enum OptimalQuantize {
    /// The types with an error-minimising quantizer; `row` falls back to `Quantize.row` for the others.
    public static let supportedTypes: Set<TensorType> = [.q8_0, .q4_0, .q4_1]

    /// Search efforts: 0 (the default, fast) … `maxEffort` (several times the work, slightly lower error).
    public static let maxEffort = Int(MOE_QOPT_EFFORTS) - 1

    /// Quantizes `count` floats at `src` (finite; a multiple of `type.blockSize`) into `type.byteCount(elements: count)`
    /// bytes at `dst`. `weights`: nil, or `count` finite non-negative weights aligned with `src`. Types outside
    /// `supportedTypes` go to `Quantize.row` (weights and effort ignored).
    public static func row(type: TensorType, src: UnsafePointer<Float>, dst: UnsafeMutableRawPointer, count: Int,
                           weights: UnsafePointer<Float>? = nil, effort: Int = 0) {
        guard supportedTypes.contains(type) else {
            Quantize.row(type: type, src: src, dst: dst, count: count)
            return
        }
        precondition(count % type.blockSize == 0, "OptimalQuantize.row: \(count) is not a multiple of \(type.blockSize)")
        let rc = moe_quantize_opt(Int32(type.rawValue), src, dst, Int64(count), weights, Int32(clamping: effort))
        precondition(rc == 0, "OptimalQuantize.row: \(type) rejected \(count) elements")
    }

    /// Convenience for tests and tools: a whole row into new bytes (`weights`, if given, has `values.count` elements).
    public static func row(type: TensorType, _ values: [Float], weights: [Float]? = nil, effort: Int = 0) -> [UInt8] {
        precondition(weights == nil || weights!.count == values.count, "OptimalQuantize.row: weights.count != values.count")
        let bytes = type.byteCount(elements: values.count)!
        return [UInt8](unsafeUninitializedCapacity: bytes) { buf, n in
            values.withUnsafeBufferPointer { x in
                withOptionalPointer(weights) { w in
                    row(type: type, src: x.baseAddress!, dst: buf.baseAddress!, count: values.count, weights: w, effort: effort)
                }
            }
            n = bytes
        }
    }

    /// Σ wⱼ (xⱼ − x̂ⱼ)² over `count` elements: `src` the original floats, `blocks` their encoding as `type`
    /// (`type.byteCount(elements: count)` bytes), x̂ what `Dequantize.row` decodes, `weights` nil for all 1.
    /// Summed per block of 32 in double, in a fixed order (`blockError`), block sums added in order. +inf or NaN where
    /// a stored f16 field is not finite (ggml's reference rounding can overflow f16 for large |x|: Q4_0 from about
    /// 5.2·10⁵, Q4_1 from a minimum or range of about 6.6·10⁴ and 9.8·10⁵, Q8_0 from about 8.3·10⁶).
    public static func error(type: TensorType, src: UnsafePointer<Float>, blocks: UnsafeRawPointer, count: Int,
                             weights: UnsafePointer<Float>? = nil) -> Double {
        precondition(count % type.blockSize == 0, "OptimalQuantize.error: \(count) is not a multiple of \(type.blockSize)")
        if supportedTypes.contains(type) {
            return moe_quant_block_error(Int32(type.rawValue), src, blocks, Int64(count), weights)
        }
        // Any other type the dequantizer supports: decode, then the same sum.
        let y = Dequantize.row(type: type, src: blocks, count: count)
        return y.withUnsafeBufferPointer { errorOfValues(src, $0.baseAddress!, count: count, weights: weights) }
    }

    /// Convenience: `error` for arrays.
    public static func error(type: TensorType, _ values: [Float], _ bytes: [UInt8], weights: [Float]? = nil) -> Double {
        precondition(bytes.count == type.byteCount(elements: values.count), "OptimalQuantize.error: byte count does not match")
        return values.withUnsafeBufferPointer { x in
            bytes.withUnsafeBytes { b in
                withOptionalPointer(weights) { w in error(type: type, src: x.baseAddress!, blocks: b.baseAddress!, count: values.count, weights: w) }
            }
        }
    }

    /// Σ wⱼ (xⱼ − yⱼ)² over `count` elements (y already decoded), in the order of the C error function: per chunk of 32
    /// (the last one zero-padded), terms tⱼ = (wⱼ·rⱼ)·rⱼ with rⱼ = Double(xⱼ) − Double(yⱼ), tⱼ += tⱼ₊₁₆, then + 8, + 4,
    /// then (t₀ + t₂) + (t₁ + t₃); chunk sums added in order. For the three supported types this equals
    /// `error(type:src:blocks:count:weights:)` bit for bit when y is `Dequantize.row` of the blocks.
    static func errorOfValues(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int, weights: UnsafePointer<Float>?) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            var t = [Double](repeating: 0, count: 32)
            for j in 0 ..< min(32, count - start) {
                let r = Double(x[start + j]) - Double(y[start + j])
                t[j] = (weights.map { Double($0[start + j]) * r } ?? r) * r
            }
            for j in 0 ..< 16 { t[j] += t[j + 16] }
            for j in 0 ..< 8 { t[j] += t[j + 8] }
            for j in 0 ..< 4 { t[j] += t[j + 4] }
            total += (t[0] + t[2]) + (t[1] + t[3])
            start += 32
        }
        return total
    }
}

/// Calls `body` with a pointer to the array's elements, or nil.
private func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}
