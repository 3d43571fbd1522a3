import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// The error-minimising quantizers (`OptimalQuantize`, CKernels/quantize_opt.c) against ggml's reference rounding
/// (`Quantize.row`): never worse on any block, materially better on average, decoded exactly as assumed, deterministic.
struct QuantizeOptTests {
    static let types: [TensorType] = [.q8_0, .q4_0, .q4_1]

    // ---- inputs ----

    /// Standard normal, Box–Muller on the seeded generator.
    static func gaussian(_ rng: inout SeededRNG) -> Double {
        let u1 = Double.random(in: Double.ulpOfOne ..< 1, using: &rng), u2 = Double.random(in: 0 ..< 1, using: &rng)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Student-t with 3 degrees of freedom: heavy tails, many blocks with one large outlier.
    static func studentT3(_ rng: inout SeededRNG) -> Double {
        let z = gaussian(&rng)
        var c = 0.0
        for _ in 0 ..< 3 {
            let g = gaussian(&rng)
            c += g * g
        }
        return z / (c / 3).squareRoot()
    }

    /// A named family of rows: `rows` rows of `cols` values.
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let scale: Double
        let kind: Int
        var description: String { "\(name) ×\(scale)" }
    }

    /// Kinds: 0 Gaussian, 1 Student-t(3), 2 Gaussian with a few large outliers, 3 half the elements exactly 0,
    /// 4 constant rows (a different constant per row, some blocks all zero), 5 values near a large offset, 6 mixed
    /// magnitudes per block (each block its own scale over 12 decades).
    static let cases: [Case] = [
        Case(name: "gaussian", scale: 1, kind: 0), Case(name: "student-t3", scale: 0.02, kind: 1),
        Case(name: "outliers", scale: 1, kind: 2), Case(name: "zeros", scale: 1, kind: 3),
        Case(name: "constant", scale: 1, kind: 4), Case(name: "offset", scale: 1, kind: 5),
        Case(name: "mixed-magnitudes", scale: 1, kind: 6),
        Case(name: "gaussian", scale: 1e-42, kind: 0), Case(name: "gaussian", scale: 1e-30, kind: 0),
        Case(name: "gaussian", scale: 1e-7, kind: 0), Case(name: "gaussian", scale: 3e-5, kind: 0),
        Case(name: "gaussian", scale: 1e5, kind: 0), Case(name: "gaussian", scale: 1e6, kind: 0),
        Case(name: "gaussian", scale: 1e30, kind: 0), Case(name: "gaussian", scale: 3e37, kind: 0),
        Case(name: "constant", scale: 1e6, kind: 4), Case(name: "offset", scale: 1e5, kind: 5),
    ]

    static func rows(_ c: Case, rows: Int, cols: Int, seed: UInt64) -> [Float] {
        var rng = SeededRNG(seed: seed)
        var x = [Float](repeating: 0, count: rows * cols)
        var blockScale = 1.0
        for i in 0 ..< rows * cols {
            if i % 32 == 0 { blockScale = pow(10, Double.random(in: -6 ... 6, using: &rng)) }
            let v: Double
            switch c.kind {
            case 1: v = studentT3(&rng)
            case 2: v = Int.random(in: 0 ..< 64, using: &rng) == 0 ? 30 * gaussian(&rng) : gaussian(&rng)
            case 3: v = Bool.random(using: &rng) ? 0 : gaussian(&rng)
            case 4: v = (i / cols) % 3 == 0 ? 0 : Double((i / cols) % 7) - 3.3
            case 5: v = 7 + 0.01 * gaussian(&rng)
            case 6: v = blockScale * gaussian(&rng)
            default: v = gaussian(&rng)
            }
            x[i] = Float(max(-3.4e38, min(3.4e38, v * c.scale)))
        }
        return x
    }

    /// Column weights like an importance matrix: log-normal over columns, some columns 0, and (if `zeroBlock`)
    /// one whole block of 32 columns 0.
    static func columnWeights(cols: Int, seed: UInt64, zeroBlock: Bool = true) -> [Float] {
        var rng = SeededRNG(seed: seed)
        return (0 ..< cols).map { j in
            if zeroBlock && j / 32 == 1 { return 0 }
            if j % 13 == 5 { return 0 }
            return Float(exp(1.5 * gaussian(&rng)))
        }
    }

    // ---- helpers ----

    /// Per-block errors of `bytes` (a row of `type`) against x, with optional weights.
    static func blockErrors(_ type: TensorType, _ x: [Float], _ bytes: [UInt8], weights: [Float]?) -> [Double] {
        let bb = type.blockBytes
        return (0 ..< x.count / 32).map { b in
            let xs = Array(x[b * 32 ..< b * 32 + 32]), bs = Array(bytes[b * bb ..< b * bb + bb])
            return OptimalQuantize.error(type: type, xs, bs, weights: weights.map { Array($0[b * 32 ..< b * 32 + 32]) })
        }
    }

    /// Quantizes a matrix row by row (the same column weights for each row).
    static func quantize(_ type: TensorType, _ x: [Float], cols: Int, weights: [Float]?, effort: Int = 0) -> [UInt8] {
        let rowBytes = type.byteCount(elements: cols)!
        var out = [UInt8](repeating: 0, count: x.count / cols * rowBytes)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBytes { op in
                for r in 0 ..< x.count / cols {
                    if let weights {
                        weights.withUnsafeBufferPointer { wp in
                            OptimalQuantize.row(type: type, src: xp.baseAddress! + r * cols, dst: op.baseAddress! + r * rowBytes,
                                                count: cols, weights: wp.baseAddress!, effort: effort)
                        }
                    } else {
                        OptimalQuantize.row(type: type, src: xp.baseAddress! + r * cols, dst: op.baseAddress! + r * rowBytes,
                                            count: cols, effort: effort)
                    }
                }
            }
        }
        return out
    }

    static func tiled(_ w: [Float], rows: Int) -> [Float] { (0 ..< rows).flatMap { _ in w } }

    /// The f16 fields of block b are finite, and Q8_0 never uses the code −128.
    static func fieldsOK(_ type: TensorType, _ bytes: [UInt8], block b: Int) -> Bool {
        let o = b * type.blockBytes
        let half = { (k: Int) in Float16(bitPattern: UInt16(bytes[o + k]) | UInt16(bytes[o + k + 1]) << 8).isFinite }
        switch type {
        case .q8_0: return half(0) && !bytes[o + 2 ..< o + 34].contains(0x80)
        case .q4_0: return half(0)
        default: return half(0) && half(2)
        }
    }

    // ---- tests ----

    @Test("never worse than ggml's reference on any block, unweighted and weighted",
          arguments: types, [false, true])
    func neverWorse(type: TensorType, weighted: Bool) {
        let cols = 256, nrows = 24
        let w = Self.columnWeights(cols: cols, seed: 99)
        for (ci, c) in Self.cases.enumerated() {
            let x = Self.rows(c, rows: nrows, cols: cols, seed: 1000 + UInt64(ci))
            let wFull = weighted ? Self.tiled(w, rows: nrows) : nil
            let ref = Quantize.row(type: type, x)
            for effort in [0, OptimalQuantize.maxEffort] {
                let opt = Self.quantize(type, x, cols: cols, weights: weighted ? w : nil, effort: effort)
                let er = Self.blockErrors(type, x, ref, weights: wFull), eo = Self.blockErrors(type, x, opt, weights: wFull)
                for b in er.indices {
                    // A reference block that decodes to inf / NaN (f16 overflow) loses to anything finite.
                    let ok = eo[b].isFinite && (er[b].isNaN || eo[b] <= er[b]) && Self.fieldsOK(type, opt, block: b)
                    if !ok {
                        Issue.record("\(type) \(c) weighted \(weighted) effort \(effort) block \(b): opt \(eo[b]) vs ref \(er[b])")
                        return
                    }
                }
            }
        }
    }

    @Test("the error function sees exactly what Dequantize.row decodes", arguments: types)
    func errorMatchesDequantizer(type: TensorType) {
        let cols = 512
        let x = Self.rows(Self.cases[1], rows: 8, cols: cols, seed: 5)
        let w = Self.tiled(Self.columnWeights(cols: cols, seed: 6), rows: 8)
        for bytes in [Self.quantize(type, x, cols: cols, weights: nil), Quantize.row(type: type, x)] {
            for weights in [nil, w] {
                let c = OptimalQuantize.error(type: type, x, bytes, weights: weights)
                for decode in [Dequantize.row, Dequantize.rowGeneric] as [(TensorType, UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void] {
                    var y = [Float](repeating: 0, count: x.count)
                    bytes.withUnsafeBytes { b in y.withUnsafeMutableBufferPointer { decode(type, b.baseAddress!, $0.baseAddress!, x.count) } }
                    let s = x.withUnsafeBufferPointer { xp in
                        y.withUnsafeBufferPointer { yp in
                            if let weights {
                                return weights.withUnsafeBufferPointer {
                                    OptimalQuantize.errorOfValues(xp.baseAddress!, yp.baseAddress!, count: x.count, weights: $0.baseAddress!)
                                }
                            }
                            return OptimalQuantize.errorOfValues(xp.baseAddress!, yp.baseAddress!, count: x.count, weights: nil)
                        }
                    }
                    #expect(s == c, "\(type): error from decoded values \(s) vs moe_quant_block_error \(c)")
                }
            }
        }
    }

    /// Average squared error over seeded Gaussian rows, opt / ref. Measured (effort 0): Q4_0 ≈ 0.886, Q4_1 ≈ 0.799,
    /// Q8_0 ≈ 0.803 (ggml's reference is 1). The bounds leave room; the inputs are fixed, so this cannot flake.
    @Test("material improvement on Gaussian rows", arguments: [(TensorType.q4_0, 0.90), (.q4_1, 0.83), (.q8_0, 0.86)])
    func improvement(type: TensorType, bound: Double) {
        let cols = 4096, nrows = 32
        let x = Self.rows(Self.cases[0], rows: nrows, cols: cols, seed: 42)
        let ref = OptimalQuantize.error(type: type, x, Quantize.row(type: type, x))
        var line = "\(type) MSE opt/ref on Gaussian rows:"
        for effort in 0 ... OptimalQuantize.maxEffort {
            let opt = OptimalQuantize.error(type: type, x, Self.quantize(type, x, cols: cols, weights: nil, effort: effort))
            line += String(format: "  effort %d %.4f", effort, opt / ref)
            if effort == 0 { #expect(opt / ref < bound, "\(type): opt/ref \(opt / ref), expected < \(bound)") }
        }
        print(line)
    }

    /// Weights on 4 columns of every 32 (100×, the rest 1): quantizing with the weights must lower the error on those
    /// columns well below what unweighted error-minimisation gets there, and lower the weighted total.
    @Test("weights concentrated on a few columns are honoured", arguments: types)
    func weightedColumns(type: TensorType) {
        let cols = 1024, nrows = 16
        let x = Self.rows(Self.cases[0], rows: nrows, cols: cols, seed: 77)
        let w = (0 ..< cols).map { [3, 10, 17, 30].contains($0 % 32) ? Float(100) : 1 }
        let heavy = w.map { $0 > 1 ? Float(1) : 0 } // indicator of the heavy columns
        let wFull = Self.tiled(w, rows: nrows), heavyFull = Self.tiled(heavy, rows: nrows)
        let ref = Quantize.row(type: type, x)
        let plain = Self.quantize(type, x, cols: cols, weights: nil)
        let weighted = Self.quantize(type, x, cols: cols, weights: w)
        let onHeavy = { (b: [UInt8]) in OptimalQuantize.error(type: type, x, b, weights: heavyFull) }
        let total = { (b: [UInt8]) in OptimalQuantize.error(type: type, x, b, weights: wFull) }
        let hRef = onHeavy(ref), hPlain = onHeavy(plain), hWeighted = onHeavy(weighted)
        print(String(format: "%@ error on the heavy columns vs ref: unweighted opt %.3f, weighted opt %.3f; weighted total vs ref: %.3f",
                     "\(type)", hPlain / hRef, hWeighted / hRef, total(weighted) / total(ref)))
        #expect(hWeighted < 0.75 * hPlain, "\(type): heavy-column error \(hWeighted) with weights vs \(hPlain) without")
        #expect(total(weighted) < total(plain), "\(type): weighted total not lower with the weights")
    }

    @Test("deterministic: repeated calls, row splits, threads and the generic copy give the same bytes", arguments: types)
    func deterministic(type: TensorType) {
        let cols = 512, nrows = 16
        let x = Self.rows(Self.cases[2], rows: nrows, cols: cols, seed: 3)
        let w = Self.columnWeights(cols: cols, seed: 4)
        for weights in [nil, w] {
            let a = Self.quantize(type, x, cols: cols, weights: weights)
            #expect(Self.quantize(type, x, cols: cols, weights: weights) == a)
            // The whole matrix as one row (column weights tiled): blocks are independent.
            let whole = OptimalQuantize.row(type: type, x, weights: weights.map { Self.tiled($0, rows: nrows) })
            #expect(whole == a)
            // The generic (non-AVX2) copy of the search.
            let rowBytes = type.byteCount(elements: cols)!
            var g = [UInt8](repeating: 0, count: a.count)
            x.withUnsafeBufferPointer { xp in
                g.withUnsafeMutableBytes { gp in
                    for r in 0 ..< nrows {
                        let rc: Int32
                        if let weights {
                            rc = weights.withUnsafeBufferPointer {
                                moe_quantize_opt_generic(Int32(type.rawValue), xp.baseAddress! + r * cols, gp.baseAddress! + r * rowBytes, Int64(cols), $0.baseAddress!, 0)
                            }
                        } else {
                            rc = moe_quantize_opt_generic(Int32(type.rawValue), xp.baseAddress! + r * cols, gp.baseAddress! + r * rowBytes, Int64(cols), nil, 0)
                        }
                        #expect(rc == 0)
                    }
                }
            }
            #expect(g == a, "\(type): generic copy differs")
            // Rows on concurrent threads.
            let results = Slots(count: nrows)
            DispatchQueue.concurrentPerform(iterations: nrows) { r in
                results.p[r] = OptimalQuantize.row(type: type, Array(x[r * cols ..< (r + 1) * cols]), weights: weights)
            }
            #expect(Array(results.p.joined()) == a)
            results.free()
        }
    }

    @Test("other types fall back to Quantize.row; bad types are rejected by the C entry point")
    func fallback() {
        let x = Self.rows(Self.cases[0], rows: 1, cols: 64, seed: 8)
        for type in [TensorType.f32, .f16, .bf16] {
            #expect(OptimalQuantize.row(type: type, x) == Quantize.row(type: type, x))
        }
        var out = [UInt8](repeating: 0, count: 256)
        #expect(moe_quantize_opt(Int32(TensorType.f16.rawValue), x, &out, 64, nil, 0) == -1)
        #expect(moe_quantize_opt(Int32(TensorType.q4_0.rawValue), x, &out, 48, nil, 0) == -1)
        #expect(moe_quant_block_error(Int32(TensorType.f16.rawValue), x, out, 64, nil).isNaN)
        // An all-zero row encodes exactly; the named entry points are effort 0.
        #expect(OptimalQuantize.error(type: .q4_1, [Float](repeating: 0, count: 64), OptimalQuantize.row(type: .q4_1, [Float](repeating: 0, count: 64))) == 0)
        var viaNamed = [UInt8](repeating: 0, count: 36)
        viaNamed.withUnsafeMutableBytes { moe_quantize_opt_q4_0(x, $0.baseAddress!.assumingMemoryBound(to: block_q4_0.self), 64, nil) }
        #expect(viaNamed == OptimalQuantize.row(type: .q4_0, x))
    }

    /// Prints (does not assert) single-thread throughput, so that a regression shows in the log.
    @Test("throughput (printed)", arguments: types)
    func throughput(type: TensorType) {
        let cols = 4096, nrows = 64
        let x = Self.rows(Self.cases[0], rows: nrows, cols: cols, seed: 9)
        let clock = ContinuousClock()
        var best = Duration.seconds(1000)
        for _ in 0 ..< 3 { best = min(best, clock.measure { _ = Self.quantize(type, x, cols: cols, weights: nil) }) }
        let s = Double(best.components.seconds) + Double(best.components.attoseconds) * 1e-18
        print(String(format: "%@ effort 0, unweighted: %.1f M elements/s on one thread", "\(type)", Double(x.count) / s / 1e6))
    }
}

/// One result slot per thread (each thread writes only its own).
private struct Slots: @unchecked Sendable {
    let p: UnsafeMutableBufferPointer<[UInt8]>
    init(count: Int) {
        p = .allocate(capacity: count)
        p.initialize(repeating: [])
    }
    func free() {
        p.deinitialize()
        p.deallocate()
    }
}

/// The tiny reference model's bf16 weights (the same as its safetensors): opt / ref squared error per type.
@Suite(.enabled(if: sharedDir != nil, "../shared (or $MOE_SHARED) not found: real-weight comparison skipped"))
struct QuantizeOptRealWeightTests {
    @Test("real weights: lower error than ggml's reference on every tensor", arguments: QuantizeOptTests.types)
    func realWeights(type: TensorType) throws {
        let file = try GGUFFile(path: "\(sharedDir!)/models/tiny-qwen3moe/tiny-qwen3moe-bf16.gguf")
        var refTotal = 0.0, optTotal = 0.0, tensors = 0
        var line = ""
        for layer in [0, 3, 7] {
            for part in ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps", "attn_q", "attn_output"] {
                let t = try #require(file.tensor("blk.\(layer).\(part).weight"))
                let x = Dequantize.row(type: t.type, src: t.bytes.baseAddress!, count: t.elementCount) // bf16 → f32, exact
                let ref = OptimalQuantize.error(type: type, x, Quantize.row(type: type, x))
                let opt = OptimalQuantize.error(type: type, x, OptimalQuantize.row(type: type, x))
                #expect(opt < ref, "\(t.name): \(opt) vs \(ref)")
                refTotal += ref
                optTotal += opt
                tensors += 1
                if layer == 0 { line += String(format: " %@ %.4f", part, opt / ref) }
            }
        }
        print(String(format: "%@ real weights (%d tensors, layers 0/3/7): MSE opt/ref %.4f; layer 0:%@", "\(type)", tensors, optTotal / refTotal, line))
        #expect(optTotal < refTotal)
    }
}
