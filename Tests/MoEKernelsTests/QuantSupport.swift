import CKernels
import Foundation
import MoEFormats
@testable import MoEKernels

/// Weight types whose dot product runs on 8-bit quantized activations.
let quantWeightTypes: [TensorType] = [.q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K, .q2_K, .q3_K, .iq4_xs] + quant32WeightTypes
/// The 32-element types added with issue 15 (Q5_0, IQ4_NL, MXFP4 on Q8_0 activations; Q5_1 on Q8_1).
let quant32WeightTypes: [TensorType] = [.q5_0, .q5_1, .iq4_nl, .mxfp4]
/// Every weight type with a dot product (quantized ones, then the float ones with float activations).
let dotWeightTypes: [TensorType] = quantWeightTypes + [.f16, .bf16]
/// The 8-bit activation types.
let activationTypes: [TensorType] = [.q8_0, .q8_1, .q8_K]

/// Activation type of a weight type (as the C kernels say).
func activationType(_ t: TensorType) -> TensorType {
    TensorType(rawValue: UInt32(moe_activation_type(t.rawValue)))!
}

/// Elements per activation block, bytes per activation block (C sizes: Q8_1 is 36 bytes).
func actBlockSize(_ a: TensorType) -> Int { a == .q8_K ? 256 : a == .f32 ? 1 : 32 }
func actBlockBytes(_ a: TensorType) -> Int { Int(moe_activation_row_bytes(a.rawValue, Int64(actBlockSize(a)))) }

/// Quantizes x (whole blocks) with the generic or the dispatched code.
func quantizeActs(_ a: TensorType, _ x: [Float], generic: Bool) -> [UInt8] {
    var out = [UInt8](repeating: 0xAA, count: Int(moe_activation_row_bytes(a.rawValue, Int64(x.count))))
    let rc = out.withUnsafeMutableBytes { o in
        generic ? moe_quantize_activations_generic(a.rawValue, x, o.baseAddress!, Int64(x.count))
                : moe_quantize_activations(a.rawValue, x, o.baseAddress!, Int64(x.count))
    }
    precondition(rc == 0)
    return out
}

/// Dot product of one weight row with one activation row (generic or dispatched).
func vecDot(_ t: TensorType, n: Int, _ w: [UInt8], _ x: [UInt8], generic: Bool) -> Float {
    var r: Float = .nan
    let rc = w.withUnsafeBytes { wb in
        x.withUnsafeBytes { xb in
            generic ? moe_vec_dot_generic(t.rawValue, Int64(n), wb.baseAddress!, xb.baseAddress!, &r)
                    : moe_vec_dot(t.rawValue, Int64(n), wb.baseAddress!, xb.baseAddress!, &r)
        }
    }
    precondition(rc == 0)
    return r
}

func readHalf(_ b: [UInt8], _ off: Int) -> Float { Float(Float16(bitPattern: UInt16(b[off]) | UInt16(b[off + 1]) << 8)) }
func writeHalf(_ b: inout [UInt8], _ off: Int, _ v: Float16) {
    b[off] = UInt8(v.bitPattern & 0xFF)
    b[off + 1] = UInt8(v.bitPattern >> 8)
}
func readFloat(_ b: [UInt8], _ off: Int) -> Float {
    Float(bitPattern: UInt32(b[off]) | UInt32(b[off + 1]) << 8 | UInt32(b[off + 2]) << 16 | UInt32(b[off + 3]) << 24)
}
func writeFloat(_ b: inout [UInt8], _ off: Int, _ v: Float) {
    for k in 0 ..< 4 { b[off + k] = UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32(k))) }
}

/// Layout of an activation block: (offset of the codes, scale of block b).
func actCodeOffset(_ a: TensorType) -> Int { a == .q8_0 ? 2 : 4 }
func actScale(_ a: TensorType, _ bytes: [UInt8], block b: Int) -> Float {
    let o = b * actBlockBytes(a)
    return a == .q8_K ? readFloat(bytes, o) : readHalf(bytes, o)
}

/// The codes and the dequantized values x̂ = d · q of a quantized activation row of n elements.
func actCodes(_ a: TensorType, _ bytes: [UInt8], n: Int) -> [Int] {
    let bs = actBlockSize(a), bb = actBlockBytes(a), off = actCodeOffset(a)
    return (0 ..< n).map { Int(Int8(bitPattern: bytes[($0 / bs) * bb + off + $0 % bs])) }
}
func actDequant(_ a: TensorType, _ bytes: [UInt8], n: Int) -> [Double] {
    let codes = actCodes(a, bytes, n: n), bs = actBlockSize(a)
    return (0 ..< n).map { Double(actScale(a, bytes, block: $0 / bs)) * Double(codes[$0]) }
}

/// ggml's reference quantizers (quantize_row_q8_0_ref / _q8_1_ref / _q8_K_ref), written again in Swift.
func referenceQuantize(_ a: TensorType, _ x: [Float]) -> [UInt8] {
    let bs = actBlockSize(a), bb = actBlockBytes(a)
    var out = [UInt8](repeating: 0, count: x.count / bs * bb)
    for b in 0 ..< x.count / bs {
        let v = Array(x[b * bs ..< (b + 1) * bs]), o = b * bb
        if a == .q8_K {
            var amax: Float = 0, max: Float = 0
            for e in v where abs(e) > amax { amax = abs(e); max = e }
            if amax == 0 { continue } // all zero: d, codes and sums 0
            let iscale = -127 / max
            let q = v.map { Swift.min(127, Int((iscale * $0).rounded(.toNearestOrEven))) }
            writeFloat(&out, o, 1 / iscale)
            for k in 0 ..< 256 { out[o + 4 + k] = UInt8(bitPattern: Int8(q[k])) }
            for g in 0 ..< 16 {
                let s = Int16(q[16 * g ..< 16 * g + 16].reduce(0, +))
                out[o + 260 + 2 * g] = UInt8(truncatingIfNeeded: s)
                out[o + 261 + 2 * g] = UInt8(truncatingIfNeeded: s >> 8)
            }
        } else {
            let amax = v.reduce(Float(0)) { Swift.max($0, abs($1)) }
            let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
            let q = v.map { Int(($0 * id).rounded()) } // halves away from zero, as roundf
            writeHalf(&out, o, Float16(d))
            if a == .q8_1 { writeHalf(&out, o + 2, Float16(Float(q.reduce(0, +)) * d)) }
            for k in 0 ..< 32 { out[o + actCodeOffset(a) + k] = UInt8(bitPattern: Int8(q[k])) }
        }
    }
    return out
}

/// Random activation row of n floats: each 32-block gets its own magnitude (2⁻¹⁰ … 2⁴), a few zeros.
func randomActivations(_ n: Int, rng: inout SeededRNG) -> [Float] {
    var x = [Float](repeating: 0, count: n)
    for b in 0 ..< n / 32 {
        let mag = Float.random(in: -10 ... 4, using: &rng).exp2
        for k in 0 ..< 32 { x[32 * b + k] = Float.random(in: -1 ... 1, using: &rng) * mag }
        if b % 7 == 3 { x[32 * b + 5] = 0 }
    }
    return x
}

/// Byte offsets of a weight block's float fields that scale the codes (d) and the minimum (m, dmin).
func scaleOffsets(_ t: TensorType) -> (d: Int, min: Int?) {
    switch t {
    case .q8_0, .q4_0: return (0, nil)
    case .q4_1, .q4_K, .q5_K: return (0, 2)
    case .q6_K: return (t.blockBytes - 2, nil)
    case .q2_K: return (80, 82)
    case .q3_K: return (t.blockBytes - 2, nil)
    case .iq4_xs: return (0, nil)
    case .q5_0, .iq4_nl: return (0, nil)
    case .q5_1: return (0, 2)
    default: return (0, nil)
    }
}

/// A bound on Σ |every float term| the dot products (either path) add up, lane partial sums
/// included: Σ_k (|ŵ_k| + extra_b) |x̂_k| with ŵ the dequantized weights, x̂ the dequantized
/// activations and extra_b what the codes' offsets can add to a lane beyond |ŵ|: Q4_1 keeps d·q
/// apart from m and adds m·s (2|m|); Q4_K/Q5_K keep d·sc·q apart from dmin·m (2 · 63 |dmin|);
/// Q6_K sums sc·q with q unsigned and takes 32·sc·bsum off separately (64 · 128 |d|); Q2_K keeps
/// d·sc·q apart from dmin·m (2 · 15 |dmin|); Q3_K's SIMD code sums sc·(q + 4) and takes 4·sc·bsum
/// off separately (32 · (7 + 4) |d|).
func dotMagnitude(_ t: TensorType, _ w: [UInt8], _ x: [UInt8], n: Int) -> Double {
    let a = activationType(t), wf = dequantGeneric(t, w, count: n), xf = actDequant(a, x, n: n)
    var total = 0.0
    for k in 0 ..< n {
        let o = k / t.blockSize * t.blockBytes
        let extra: Double = switch t {
        case .q4_1, .q5_1: 2 * Double(abs(readHalf(w, o + 2)))
        case .q4_K, .q5_K: 2 * 63 * Double(abs(readHalf(w, o + 2)))
        case .q6_K: 64 * 128 * Double(abs(readHalf(w, o + t.blockBytes - 2)))
        case .q2_K: 2 * 15 * Double(abs(readHalf(w, o + 82)))
        case .q3_K: 32 * 11 * Double(abs(readHalf(w, o + t.blockBytes - 2)))
        default: 0
        }
        total += (abs(Double(wf[k])) + extra) * abs(xf[k])
    }
    return total
}
