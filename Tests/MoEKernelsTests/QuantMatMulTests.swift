import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// Random weight rows for the matrix tests: random blocks, or finite random halves for F16/BF16.
func randomWeights(_ t: TensorType, rows: Int, cols: Int, rng: inout SeededRNG) -> [UInt8] {
    if t.isQuantized { return randomBlocks(t, blocks: rows * cols / t.blockSize, rng: &rng) }
    let v = (0 ..< rows * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
    switch t {
    case .f16: return v.map { Float16($0).bitPattern }.withUnsafeBytes { [UInt8]($0) }
    case .bf16: return v.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { [UInt8]($0) }
    default: return v.withUnsafeBytes { [UInt8]($0) }
    }
}

@Suite struct QuantMatMulTests {
    /// M off the 4-row tile (1, 3, 5, 7, 9) and on it (4, 8); K of one block and of many.
    static let rowCounts = [1, 3, 4, 5, 7, 8, 9]
    static func colCounts(_ t: TensorType) -> [Int] {
        t.blockSize == 256 ? [256, 5 * 256] : t.blockSize == 32 ? [32, 17 * 32] : [1, 37, 256]
    }

    /// For N tokens (1, 2, 3, 5, 8: off and on the 2- and 4-token tiles): every output of the tiled product equals
    /// the single dot product of its row and token bit for bit (SIMD and generic each), so results do
    /// not depend on M, N or the tile an output fell in; the SIMD product is within float rounding of
    /// the generic one; the gaps of a Y stride wider than M stay untouched.
    @Test(arguments: dotWeightTypes, [1, 2, 3, 5, 8])
    func matmulMatchesDots(_ t: TensorType, _ N: Int) {
        var rng = SeededRNG(seed: 0x3A7 + UInt64(t.rawValue) * 131 + UInt64(N))
        let a = activationType(t)
        for K in Self.colCounts(t) {
            for M in Self.rowCounts {
                let rowBytes = K / t.blockSize * t.blockBytes
                let w = randomWeights(t, rows: M, cols: K, rng: &rng)
                let x = (0 ..< N).flatMap { _ in K % 32 == 0 ? randomActivations(K, rng: &rng)
                                                             : (0 ..< K).map { _ in Float.random(in: -1 ... 1, using: &rng) } }
                let xq = t.isQuantized ? quantizeActs(a, x, generic: false) : x.withUnsafeBytes { [UInt8]($0) }
                let xBytes = xq.count / N
                let ldy = M + 2
                var ys = [Float](repeating: .nan, count: N * ldy), yg = ys
                let rcs = w.withUnsafeBytes { wb in
                    xq.withUnsafeBytes { xb in
                        (moe_matmul_q(t.rawValue, Int64(M), Int64(N), Int64(K), wb.baseAddress!, rowBytes, xb.baseAddress!, &ys, Int64(ldy)),
                         moe_matmul_q_generic(t.rawValue, Int64(M), Int64(N), Int64(K), wb.baseAddress!, rowBytes, xb.baseAddress!, &yg, Int64(ldy)))
                    }
                }
                #expect(rcs.0 == 0 && rcs.1 == 0)
                var tileMismatch = 0, genericMismatch = 0, worst = 0.0
                for j in 0 ..< N {
                    let xr = Array(xq[j * xBytes ..< (j + 1) * xBytes])
                    for i in 0 ..< M {
                        let wr = Array(w[i * rowBytes ..< (i + 1) * rowBytes])
                        if vecDot(t, n: K, wr, xr, generic: false).bitPattern != ys[j * ldy + i].bitPattern { tileMismatch += 1 }
                        if vecDot(t, n: K, wr, xr, generic: true).bitPattern != yg[j * ldy + i].bitPattern { genericMismatch += 1 }
                        // SIMD vs generic, relative to the terms' magnitude (see QuantDotTests.simdMatchesGeneric)
                        let mag: Double
                        if t.isQuantized {
                            mag = dotMagnitude(t, wr, xr, n: K)
                        } else {
                            let wf = dequantGeneric(t, wr, count: K)
                            mag = (0 ..< K).reduce(0.0) { $0 + abs(Double(wf[$1]) * Double(x[j * K + $1])) }
                        }
                        let err = abs(Double(ys[j * ldy + i]) - Double(yg[j * ldy + i]))
                        worst = max(worst, err / (Double(K / t.blockSize + 8) * 0x1p-22 * mag + 1e-30))
                    }
                    #expect(ys[j * ldy + M ..< (j + 1) * ldy].allSatisfy(\.isNaN) && yg[j * ldy + M ..< (j + 1) * ldy].allSatisfy(\.isNaN),
                            "\(t) M=\(M) N=\(N) K=\(K): wrote past M")
                }
                let context = "\(t) M=\(M) N=\(N) K=\(K)"
                #expect(tileMismatch == 0, "\(context): \(tileMismatch) SIMD outputs differ from the SIMD dot")
                #expect(genericMismatch == 0, "\(context): \(genericMismatch) generic outputs differ from the generic dot")
                #expect(worst <= 1, "\(context): SIMD vs generic \(worst) × the rounding bound")
            }
        }
    }

    /// Every kernel level this CPU runs (AVX2 and, where present, AVX-512), not only the dispatched one: row
    /// counts on and off the one-token kernels' 16-row groups and their 4-row tails, one token and several.
    /// Within a level each output equals that level's dot product bit for bit; against the generic code it
    /// is within float rounding of the terms' magnitude.
    @Test(arguments: quantWeightTypes)
    func everyLevelMatchesItsDots(_ t: TensorType) {
        var rng = SeededRNG(seed: 0x51D + UInt64(t.rawValue))
        let a = activationType(t)
        for level in Kernels.levels where level > 0 {
            for (M, N) in [(16, 1), (36, 1), (48, 1), (17, 4), (9, 6)] {
                let K = t.blockSize == 256 ? 3 * 256 : 40 * 32
                let rowBytes = K / t.blockSize * t.blockBytes
                let w = randomWeights(t, rows: M, cols: K, rng: &rng)
                let x = (0 ..< N).flatMap { _ in randomActivations(K, rng: &rng) }
                let xq = quantizeActs(a, x, generic: false)
                let xBytes = xq.count / N
                var y = [Float](repeating: .nan, count: N * M), yg = y
                let rcs = w.withUnsafeBytes { wb in
                    xq.withUnsafeBytes { xb in
                        (moe_matmul_q_level(Int32(level), t.rawValue, Int64(M), Int64(N), Int64(K), wb.baseAddress!, rowBytes,
                                            xb.baseAddress!, &y, Int64(M)),
                         moe_matmul_q_generic(t.rawValue, Int64(M), Int64(N), Int64(K), wb.baseAddress!, rowBytes, xb.baseAddress!, &yg, Int64(M)))
                    }
                }
                #expect(rcs.0 == 0 && rcs.1 == 0)
                var mismatch = 0, worst = 0.0
                for j in 0 ..< N {
                    let xr = Array(xq[j * xBytes ..< (j + 1) * xBytes])
                    for i in 0 ..< M {
                        let wr = Array(w[i * rowBytes ..< (i + 1) * rowBytes])
                        var d = Float.nan
                        let rc = wr.withUnsafeBytes { wb in
                            xr.withUnsafeBytes { moe_vec_dot_level(Int32(level), t.rawValue, Int64(K), wb.baseAddress!, $0.baseAddress!, &d) }
                        }
                        #expect(rc == 0)
                        if d.bitPattern != y[j * M + i].bitPattern { mismatch += 1 }
                        let err = abs(Double(y[j * M + i]) - Double(yg[j * M + i]))
                        worst = max(worst, err / (Double(K / t.blockSize + 8) * 0x1p-22 * dotMagnitude(t, wr, xr, n: K) + 1e-30))
                    }
                }
                let context = "\(t) level \(level) (\(Kernels.features(level: level) ?? "?")) M=\(M) N=\(N) K=\(K)"
                #expect(mismatch == 0, "\(context): \(mismatch) outputs differ from the level's dot product")
                #expect(worst <= 1, "\(context): vs generic \(worst) × the rounding bound")
            }
        }
        #expect(moe_matmul_q_level(Int32(Kernels.levels.upperBound + 1), t.rawValue, 1, 1, Int64(t.blockSize), nil, 0, nil, nil, 1) == -1)
    }

    @Test func rejectsBadArguments() {
        var y = [Float](repeating: 0, count: 8)
        let w = [UInt8](repeating: 0, count: 64), x = [UInt8](repeating: 0, count: 64)
        let q4 = TensorType.q4_0.rawValue
        #expect(moe_matmul_q(q4, 1, 1, 31, w, 18, x, &y, 1) == -1)               // K not whole blocks
        #expect(moe_matmul_q(q4, 2, 1, 32, w, 17, x, &y, 2) == -1)               // rowBytes too small
        #expect(moe_matmul_q(q4, 2, 1, 32, w, 18, x, &y, 1) == -1)               // ldy < M
        #expect(moe_matmul_q(TensorType.q8_K.rawValue, 1, 1, 256, w, 292, x, &y, 1) == -1) // no dot product
        #expect(moe_matmul_q(q4, 0, 1, 32, w, 18, x, &y, 1) == 0)                // empty: fine
        var out: Float = 0
        #expect(moe_vec_dot(TensorType.q4_K.rawValue, 255, w, x, &out) == -1)
        #expect(moe_quantize_activations(TensorType.q8_K.rawValue, nil, nil, 32) == -1)
    }
}

@Suite struct QuantizedMatMulAPITests {
    static let types: [TensorType] = dotWeightTypes + [.f32]

    /// The Swift API: quantize a batch, split rows as threads would, gather rows for an "expert";
    /// equals the C dot products (the float gemm's rounding for F32 weights).
    @Test(arguments: types)
    func rowRangesAndGather(_ t: TensorType) throws {
        var rng = SeededRNG(seed: 0x5A1 + UInt64(t.rawValue))
        let rows = 11, cols = t.blockSize == 256 ? 512 : 96, n = 5
        let bytes = randomWeights(t, rows: rows, cols: cols, rng: &rng)
        let x = randomActivations(n * cols, rng: &rng)
        try bytes.withUnsafeBytes { raw in
            let w = try WeightMatrix(type: t, rows: rows, cols: cols, base: raw.baseAddress!)
            #expect(w.supportsQuantizedActivations == quantWeightTypes.contains(t))
            let xq = try QuantizedActivations(for: w, capacity: 8)
            #expect(xq.activationType == activationType(t) && xq.cols == cols)
            x.withUnsafeBufferPointer { xq.quantize($0.baseAddress!, rows: n) }
            #expect(xq.count == n)

            var whole = [Float](repeating: .nan, count: n * rows), split = whole
            QuantizedMatMul.apply(w: w, xq: xq, n: n, y: &whole)
            // Rows in three uneven parts, as three threads would do them.
            for part in [0 ..< 3, 3 ..< 10, 10 ..< 11] {
                QuantizedMatMul.apply(w: w, xq: xq, n: n, y: &split, yStride: rows, rows: part)
            }
            if t == .f32 { // the float gemm's rounding depends on its tile shapes
                #expect(zip(whole, split).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) }, "\(t): split rows differ")
            } else {
                #expect(whole.map(\.bitPattern) == split.map(\.bitPattern), "\(t): split rows differ")
            }

            // Against the C dot per output (exact except F32, whose gemm sums in another order).
            for j in 0 ..< n {
                for i in 0 ..< rows {
                    var d: Float = 0
                    _ = moe_vec_dot(t.rawValue, Int64(cols), w.row(i), xq.row(j), &d)
                    if t == .f32 {
                        #expect(abs(d - whole[j * rows + i]) <= 1e-5 * max(1, abs(d)))
                    } else {
                        #expect(d.bitPattern == whole[j * rows + i].bitPattern, "\(t) row \(i) token \(j)")
                    }
                }
            }
            var reference = [Float](repeating: .nan, count: n * rows)
            QuantizedMatMul.applyGeneric(w: w, xq: xq, n: n, y: &reference, yStride: rows, rows: 0 ..< rows)
            for k in 0 ..< n * rows {
                #expect(abs(reference[k] - whole[k]) <= 1e-3 * max(1, abs(reference[k])), "\(t): generic \(reference[k]) vs \(whole[k])")
            }

            // Gather tokens 4, 1, 1 (an expert's tokens) from the batch: the same outputs.
            let picked = try QuantizedActivations(for: w, capacity: 3)
            picked.gather(from: xq, rows: [4, 1, 1])
            #expect(picked.count == 3)
            var yp = [Float](repeating: .nan, count: 3 * rows)
            QuantizedMatMul.apply(w: w, xq: picked, n: 3, y: &yp)
            for (k, src) in [4, 1, 1].enumerated() {
                #expect(yp[k * rows ..< (k + 1) * rows].map(\.bitPattern) == whole[src * rows ..< (src + 1) * rows].map(\.bitPattern))
            }

            // One row quantized alone = the same row of the batch.
            let single = try QuantizedActivations(for: w, capacity: 1)
            x.withUnsafeBufferPointer { single.quantize(row: 0, from: $0.baseAddress! + 2 * cols) }
            #expect(memcmp(single.row(0), xq.row(2), xq.rowBytes) == 0)
        }
    }

    @Test func refusesUnsupported() {
        #expect(throws: KernelError.self) { try QuantizedActivations(weightType: .q8_K, cols: 256, capacity: 1) }
        #expect(throws: KernelError.self) { try QuantizedActivations(weightType: .q4_K, cols: 64, capacity: 1) }
        #expect(QuantizedActivations.rowBytes(for: .q4_0, cols: 64) == 68)
        #expect(QuantizedActivations.rowBytes(for: .q4_1, cols: 64) == 72)
        #expect(QuantizedActivations.rowBytes(for: .q5_0, cols: 64) == 68)
        #expect(QuantizedActivations.rowBytes(for: .q5_1, cols: 64) == 72)
        #expect(QuantizedActivations.rowBytes(for: .iq4_nl, cols: 64) == 68)
        #expect(QuantizedActivations.rowBytes(for: .mxfp4, cols: 64) == 68)
        #expect(QuantizedActivations.rowBytes(for: .q6_K, cols: 256) == 292)
        #expect(QuantizedActivations.rowBytes(for: .bf16, cols: 3) == 12)
    }
}
