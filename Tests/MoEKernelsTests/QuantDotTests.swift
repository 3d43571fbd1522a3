import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

@Suite struct ActivationQuantizerTests {
    @Test func blockLayouts() {
        #expect(MemoryLayout<block_q8_1>.size == 36)
        #expect(MemoryLayout<block_q8_K>.size == 292)
        #expect(MemoryLayout<block_q8_K>.alignment == 4)
        #expect(moe_activation_row_bytes(TensorType.q8_0.rawValue, 64) == 68)
        #expect(moe_activation_row_bytes(TensorType.q8_1.rawValue, 64) == 72)
        #expect(moe_activation_row_bytes(TensorType.q8_K.rawValue, 512) == 584)
        #expect(moe_activation_row_bytes(TensorType.f32.rawValue, 5) == 20)
        #expect(moe_activation_row_bytes(TensorType.q8_K.rawValue, 32) == -1) // not whole blocks
        #expect(moe_activation_row_bytes(TensorType.q4_0.rawValue, 32) == -1) // not an activation type
    }

    @Test(arguments: TensorType.allCases)
    func activationTypeOfWeights(_ t: TensorType) {
        let expected: TensorType? = switch t {
        case .f32, .f16, .bf16: .f32
        case .q8_0, .q4_0: .q8_0
        case .q4_1: .q8_1
        case .q5_0, .iq4_nl, .mxfp4: .q8_0
        case .q5_1: .q8_1
        case .q4_K, .q5_K, .q6_K: .q8_K
        case .q2_K, .q3_K, .iq4_xs: .q8_K
        default: nil
        }
        #expect(QuantizedActivations.activationType(for: t) == expected)
        #expect(moe_activation_type(t.rawValue) == (expected.map { Int32($0.rawValue) } ?? -1))
    }

    /// Rows with the awkward cases: an all-zero block, one non-zero value, exact halves after
    /// scaling (ties), ±0, a block with +amax and -amax (the first decides Q8_K's sign), tiny and
    /// large magnitudes.
    static func edgeRows(_ n: Int, rng: inout SeededRNG) -> [[Float]] {
        var rows: [[Float]] = [randomActivations(n, rng: &rng)]
        var r = [Float](repeating: 0, count: n)
        r[40] = -3.5
        rows.append(r)                                            // zeros and a single value
        rows.append((0 ..< n).map { Float($0 % 255) - 127 })       // codes = values: exact, ±127
        rows.append((0 ..< n).map { $0 % 32 == 0 ? 127 : Float($0 % 9) - 3.5 }) // d = 1: halves are ties
        rows.append((0 ..< n).map { $0 % 3 == 0 ? -0.0 : Float($0 % 5) * 1e-30 })
        // +2 and -2 in each block, in both orders: the first one decides Q8_K's sign
        for (neg, pos) in [(7, 9), (9, 7)] {
            rows.append((0 ..< n).map { (i: Int) -> Float in
                let k = i % 64
                return k == neg ? -2 : k == pos ? 2 : Float(i % 4) * 0.1
            })
        }
        rows.append((0 ..< n).map { Float(($0 * 7919) % 1000 - 500) * 3e4 })
        return rows
    }

    /// Generic code = ggml's reference (re-written in Swift), byte for byte; dispatched = generic.
    @Test(arguments: activationTypes)
    func quantizersMatchReference(_ a: TensorType) {
        var rng = SeededRNG(seed: 0xACE + UInt64(a.rawValue))
        for (i, x) in Self.edgeRows(1024, rng: &rng).enumerated() {
            let generic = quantizeActs(a, x, generic: true)
            let fast = quantizeActs(a, x, generic: false)
            let reference = referenceQuantize(a, x)
            #expect(generic == reference, "\(a) row \(i): generic differs from the reference")
            #expect(fast == generic, "\(a) row \(i): dispatched (\(Kernels.features)) differs from generic")
            // Codes never -128 (the Q8_0 · Q8_0 SIMD product relies on it).
            #expect(actCodes(a, generic, n: x.count).allSatisfy { $0 >= -127 && $0 <= 127 })
        }
    }

    /// The typed entry points (moe_quantize_row_q8_*) write what moe_quantize_activations writes.
    @Test func typedQuantizers() {
        var rng = SeededRNG(seed: 0x7E5)
        let x = randomActivations(512, rng: &rng)
        var q0 = [block_q8_0](repeating: block_q8_0(), count: 16), q1 = [block_q8_1](repeating: block_q8_1(), count: 16)
        var qk = [block_q8_K](repeating: block_q8_K(), count: 2)
        for generic in [false, true] {
            if generic {
                moe_quantize_row_q8_0_generic(x, &q0, 512); moe_quantize_row_q8_1_generic(x, &q1, 512); moe_quantize_row_q8_K_generic(x, &qk, 512)
            } else {
                moe_quantize_row_q8_0(x, &q0, 512); moe_quantize_row_q8_1(x, &q1, 512); moe_quantize_row_q8_K(x, &qk, 512)
            }
            #expect(q0.withUnsafeBytes { [UInt8]($0) } == quantizeActs(.q8_0, x, generic: generic))
            #expect(q1.withUnsafeBytes { [UInt8]($0) } == quantizeActs(.q8_1, x, generic: generic))
            #expect(qk.withUnsafeBytes { [UInt8]($0) } == quantizeActs(.q8_K, x, generic: generic))
        }
    }

    /// |x − x̂| per element within the activation error bound used by the dot product tests:
    /// Q8_0/Q8_1: d·(½ + 2⁻¹⁶) for rounding the code, plus 127 × half an f16 ulp of d for storing d
    /// as f16 (d·2⁻¹¹, or 2⁻²⁵ where d is an f16 subnormal: blocks with amax < 2⁻⁷ lose precision);
    /// Q8_K (float d): d·(½ + 2⁻¹⁶).
    @Test(arguments: activationTypes)
    func quantizationErrorBound(_ a: TensorType) {
        var rng = SeededRNG(seed: 0xB0B + UInt64(a.rawValue))
        let n = 2048, bs = actBlockSize(a)
        let x = randomActivations(n, rng: &rng)
        let q = quantizeActs(a, x, generic: false)
        let xh = actDequant(a, q, n: n)
        for b in 0 ..< n / bs {
            let amax = x[b * bs ..< (b + 1) * bs].reduce(0) { max($0, Double(abs($1))) }
            let bound = activationErrorBound(a, amax: amax)
            let worst = (b * bs ..< (b + 1) * bs).map { abs(Double(x[$0]) - xh[$0]) }.max()!
            #expect(worst <= bound, "\(a) block \(b): error \(worst) > \(bound)")
        }
    }
}

/// Largest |x − x̂| of one element of a block whose largest magnitude is amax (see quantizationErrorBound).
func activationErrorBound(_ a: TensorType, amax: Double) -> Double {
    let d = amax / 127
    // f16 d: half an ulp, relative 2⁻¹¹ for normal halves, absolute 2⁻²⁵ below 2⁻¹⁴ (subnormal halves)
    return a == .q8_K ? d * (0.5 + 0x1p-16) : d * (0.5 + 0x1p-16) + 127 * max(d * 0x1p-11, 0x1p-25)
}

@Suite struct QuantDotTests {
    /// Dispatched (SIMD) dot = generic dot within float rounding. Both compute the same exact integer
    /// sums and scale them by the same factors, but round in different places: the generic code rounds
    /// one term per block into one chain, the SIMD code 8 lane partial sums per block (fused) into 8
    /// chains, then adds the lanes. Each path is within (blocks + 4) · 2⁻²⁴ · Σ|scaled lane terms| of
    /// the exact value (γ_n bound); dotMagnitude bounds that sum from the dequantized values, so
    /// |a − b| ≤ (blocks + 8) · 2⁻²² · dotMagnitude holds with room.
    @Test(arguments: dotWeightTypes)
    func simdMatchesGeneric(_ t: TensorType) {
        var rng = SeededRNG(seed: 0xD07 + UInt64(t.rawValue))
        let a = activationType(t)
        let counts = t.isQuantized ? [1, 2, 7, 33].map { $0 * t.blockSize } : [1, 7, 8, 31, 33, 256, 1000, 4099]
        for n in counts {
            for rep in 0 ..< 4 {
                let w: [UInt8]
                if t.isQuantized {
                    w = randomBlocks(t, blocks: n / t.blockSize, rng: &rng)
                } else { // finite random halves
                    let v = (0 ..< n).map { _ in Float.random(in: -2 ... 2, using: &rng) }
                    w = (t == .f16 ? v.map { Float16($0).bitPattern } : v.map { UInt16($0.bitPattern >> 16) })
                        .withUnsafeBytes { [UInt8]($0) }
                }
                let xf = randomActivations(max(n, 32), rng: &rng)
                let x = t.isQuantized ? quantizeActs(a, Array(xf[0 ..< n]), generic: true)
                                      : Array(xf[0 ..< n]).withUnsafeBytes { [UInt8]($0) }
                let g = vecDot(t, n: n, w, x, generic: true), s = vecDot(t, n: n, w, x, generic: false)
                #expect(g.isFinite && s.isFinite, "\(t) n=\(n): \(g) \(s)")
                let mag: Double
                if t.isQuantized {
                    mag = dotMagnitude(t, w, x, n: n)
                } else {
                    let wf = dequantGeneric(t, w, count: n)
                    mag = (0 ..< n).reduce(0.0) { $0 + abs(Double(wf[$1]) * Double(xf[$1])) }
                }
                let tol = Double(n / t.blockSize + 8) * 0x1p-22 * mag
                #expect(abs(Double(g) - Double(s)) <= tol, "\(t) n=\(n) rep \(rep): generic \(g), simd \(s), tol \(tol)")
            }
        }
    }

    /// Weights with unit scales (d = dmin = m = 1) and activations with d = 1: every value is an integer
    /// and every partial sum, in any lane, stays below 2²⁴ (6-bit scales and mins ≤ 15, Q6_K scales
    /// |sc| ≤ 4, 8 blocks of 32 or one super-block), so float arithmetic is exact and both paths must give
    /// exactly Σ ŵ·q_x: this checks the integer parts bit for bit. Codes include the extremes: weight
    /// codes all 0, all maximal, random; activation codes ±127, -128 (not for Q8_0 weights, whose SIMD
    /// product requires codes ≥ -127, as the quantizers guarantee), random.
    @Test(arguments: quantWeightTypes)
    func integerPartsExact(_ t: TensorType) {
        var rng = SeededRNG(seed: 0x1E7 + UInt64(t.rawValue))
        let a = activationType(t)
        let n = 256 // 8 blocks of 32 or 1 super-block
        let lowest = t == .q8_0 ? -127 : -128
        let actPatterns: [(Int) -> Int] = [
            { _ in 127 }, { _ in lowest }, { $0 % 2 == 0 ? 127 : lowest }, { _ in 0 },
            { _ in Int.random(in: lowest ... 127, using: &rng) }, { _ in Int.random(in: -3 ... 3, using: &rng) },
        ]
        let weightPatterns: [UInt8?] = [0x00, 0xFF, 0x88, nil] // every byte of the codes; nil: random
        for (wi, wp) in weightPatterns.enumerated() {
            for (ai, ap) in actPatterns.enumerated() {
                let w = unitScaleWeights(t, n: n, fill: wp, rng: &rng)
                let codes = (0 ..< n).map(ap)
                let x = unitScaleActivations(a, codes: codes)
                let wf = dequantGeneric(t, w, count: n) // exact: integer values
                var exact = (0 ..< n).reduce(0.0) { $0 + Double(wf[$1]) * Double(codes[$1]) }
                if t == .q4_1 || t == .q5_1 { // m = 1 meets s = f16(Σ q), which rounds past 2048: use the stored s
                    for b in 0 ..< n / 32 { exact += Double(readHalf(x, 36 * b + 2)) - Double(codes[32 * b ..< 32 * b + 32].reduce(0, +)) }
                }
                let magnitude = (0 ..< n).reduce(0.0) { $0 + abs(Double(wf[$1]) * Double(codes[$1])) }
                let g = vecDot(t, n: n, w, x, generic: true), s = vecDot(t, n: n, w, x, generic: false)
                let context = "\(t) weights \(wi) activations \(ai) (Σ|w·x| = \(magnitude))"
                #expect(Double(g) == exact, "\(context): generic \(g) vs exact \(exact)")
                #expect(Double(s) == exact, "\(context): simd \(s) vs exact \(exact)")
            }
        }
    }

    /// Zero scales give a zero dot product on both paths, whatever the codes (no NaN, no -0 surprises
    /// beyond ±0). MXFP4's E8M0 scale has no zero: its blocks get zero codes (±0: nibbles 0 and 8) instead.
    @Test(arguments: quantWeightTypes)
    func zeroScales(_ t: TensorType) {
        var rng = SeededRNG(seed: 0x2E0 + UInt64(t.rawValue))
        let a = activationType(t), n = 2 * t.blockSize
        var w = randomBlocks(t, blocks: 2, rng: &rng)
        let x = quantizeActs(a, randomActivations(n, rng: &rng), generic: true)
        let (d, m) = scaleOffsets(t)
        for b in 0 ..< 2 {
            if t == .mxfp4 {
                for k in 1 ..< t.blockBytes { w[b * t.blockBytes + k] = [0x00, 0x88, 0x08, 0x80][k % 4] }
                continue
            }
            writeHalf(&w, b * t.blockBytes + d, 0)
            if let m { writeHalf(&w, b * t.blockBytes + m, -0.0) }
        }
        for generic in [true, false] { #expect(vecDot(t, n: n, w, x, generic: generic) == 0) }
        // zero activations: the quantizer's all-zero blocks
        let w2 = randomBlocks(t, blocks: 2, rng: &rng)
        let z = quantizeActs(a, [Float](repeating: 0, count: n), generic: true)
        for generic in [true, false] { #expect(vecDot(t, n: n, w2, z, generic: generic) == 0) }
    }

    /// The quantized-activation dot against float32 math: dot(ŵ, x) with ŵ the dequantized weights and
    /// x the float activations. The difference is Σ ŵ (x − x̂) plus rounding, so
    ///   |q − Σ ŵ x| ≤ Σ_blocks e_b Σ_k |ŵ_k| + Q4_1's s term + rounding,
    /// e_b the per-element activation error (activationErrorBound); Q8_1 stores s = f16(d Σq), off
    /// from the f16 d times Σq by ≤ |Σq| d 2⁻¹⁰, times the block's |m|; rounding ≤ 1e-5 Σ|ŵ x|.
    @Test(arguments: quantWeightTypes)
    func closeToFloat(_ t: TensorType) {
        var rng = SeededRNG(seed: 0xF10 + UInt64(t.rawValue))
        let a = activationType(t), bsA = actBlockSize(a)
        for n in [t.blockSize, 16 * t.blockSize / (t.blockSize == 256 ? 4 : 1)] {
            var w = randomBlocks(t, blocks: n / t.blockSize, rng: &rng)
            // MXFP4 scales of normal floats only: with E8M0 e < 2 (and small activation scales) d_w · d_x is a
            // float subnormal, whose rounding (in ggml too) is no quantization error (simdMatchesGeneric has them).
            if t == .mxfp4 { for b in 0 ..< n / 32 where w[17 * b] < 2 { w[17 * b] = 120 } }
            let wf = dequantGeneric(t, w, count: n)
            let x = randomActivations(n, rng: &rng)
            let xq = quantizeActs(a, x, generic: false)
            let reference = (0 ..< n).reduce(0.0) { $0 + Double(wf[$1]) * Double(x[$1]) }
            var bound = 1e-5 * (0 ..< n).reduce(0.0) { $0 + abs(Double(wf[$1]) * Double(x[$1])) }
            for b in 0 ..< n / bsA {
                let r = b * bsA ..< (b + 1) * bsA
                let amax = x[r].reduce(0.0) { max($0, Double(abs($1))) }
                bound += activationErrorBound(a, amax: amax) * r.reduce(0.0) { $0 + abs(Double(wf[$1])) }
                if t == .q4_1 || t == .q5_1 {
                    let m = Double(abs(readHalf(w, b * t.blockBytes + 2)))
                    let sumq = Double(abs(actCodes(a, xq, n: n)[r].reduce(0, +)))
                    bound += m * sumq * (amax / 127) * 0x1p-10 * 1.01
                }
            }
            for generic in [true, false] {
                let q = Double(vecDot(t, n: n, w, xq, generic: generic))
                #expect(abs(q - reference) <= bound, "\(t) n=\(n) \(generic ? "generic" : "simd"): \(q) vs \(reference), bound \(bound)")
            }
        }
    }
}

/// A weight row of n elements with unit scales (d, dmin, m = 1), codes bytes all `fill` (random when
/// nil), K-quant scales and mins ≤ 15 (random), Q6_K scales in -4 ... 4, Q2_K scales and mins and
/// Q3_K scales as the codes' bytes (all in range), IQ4_XS scales in -3 ... 3.
func unitScaleWeights(_ t: TensorType, n: Int, fill: UInt8?, rng: inout SeededRNG) -> [UInt8] {
    var w = (0 ..< n / t.blockSize * t.blockBytes).map { _ in fill ?? UInt8.random(in: 0 ... 255, using: &rng) }
    for b in 0 ..< n / t.blockSize {
        let o = b * t.blockBytes
        switch t {
        case .q8_0, .q4_0: writeHalf(&w, o, 1)
        case .q4_1: writeHalf(&w, o, 1); writeHalf(&w, o + 2, 1)
        case .q5_0, .iq4_nl: writeHalf(&w, o, 1)
        case .q5_1: writeHalf(&w, o, 1); writeHalf(&w, o + 2, 1)
        case .mxfp4: w[o] = 128 // E8M0 2¹ halved: d = 1, values the doubled E2M1 integers
        case .q4_K, .q5_K:
            writeHalf(&w, o, 1); writeHalf(&w, o + 2, 1)
            for k in 0 ..< 12 { // bytes 0-7: 6-bit low parts, top bits 0; 8-11: nibbles → all ≤ 15
                w[o + 4 + k] = k < 8 ? UInt8.random(in: 0 ... 15, using: &rng) : UInt8.random(in: 0 ... 255, using: &rng)
            }
        case .q6_K:
            for k in 0 ..< 16 { w[o + 192 + k] = UInt8(bitPattern: Int8.random(in: -4 ... 4, using: &rng)) }
            writeHalf(&w, o + 208, 1)
        case .q2_K: writeHalf(&w, o + 80, 1); writeHalf(&w, o + 82, 1)
        case .q3_K: writeHalf(&w, o + 108, 1)
        case .iq4_xs:
            writeHalf(&w, o, 1)
            var high: UInt16 = 0
            for ib in 0 ..< 8 { // ls = 32 + r: low 4 bits in scales_l, high 2 in scales_h
                let ls = 32 + Int.random(in: -3 ... 3, using: &rng)
                let at = o + 4 + ib / 2, shift = 4 * (ib % 2)
                w[at] = (w[at] & ~(0x0F << shift)) | UInt8((ls & 0x0F) << shift)
                high |= UInt16(ls >> 4) << (2 * ib)
            }
            w[o + 2] = UInt8(high & 0xFF)
            w[o + 3] = UInt8(high >> 8)
        default: break
        }
    }
    return w
}

/// An activation row with d = 1 and the given codes (bsums / s consistent with them).
func unitScaleActivations(_ a: TensorType, codes: [Int]) -> [UInt8] {
    let bs = actBlockSize(a), bb = actBlockBytes(a), off = actCodeOffset(a)
    var x = [UInt8](repeating: 0, count: codes.count / bs * bb)
    for b in 0 ..< codes.count / bs {
        let o = b * bb, c = codes[b * bs ..< (b + 1) * bs]
        for (k, v) in c.enumerated() { x[o + off + k] = UInt8(bitPattern: Int8(v)) }
        switch a {
        case .q8_0: writeHalf(&x, o, 1)
        case .q8_1: writeHalf(&x, o, 1); writeHalf(&x, o + 2, Float16(Float(c.reduce(0, +))))
        default:
            writeFloat(&x, o, 1)
            for g in 0 ..< 16 {
                let s = Int16(c[c.startIndex + 16 * g ..< c.startIndex + 16 * g + 16].reduce(0, +))
                x[o + 260 + 2 * g] = UInt8(truncatingIfNeeded: s)
                x[o + 261 + 2 * g] = UInt8(truncatingIfNeeded: s >> 8)
            }
        }
    }
    return x
}
