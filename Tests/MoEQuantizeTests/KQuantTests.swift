import CKernels
import Foundation
import MoEFormats
import MoEKernels
@testable import MoEQuantize
import Testing
import TestSupport

/// The K-quants, Q5_0/Q5_1 and MXFP4 writers on synthetic rows: both roundings decode (with the project's own
/// dequantizer) close to the input, the optimised rounding's error is never above the reference's, block for
/// block, and GPTQ lowers the product error and reports exactly what its bytes decode to.
@Suite struct KQuantWriterTests {
    static let types: [TensorType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q5_0, .q5_1, .mxfp4]

    /// Rows of mixed shapes (Gaussian, cubed Gaussian: heavy tails, shifted positive, a few outliers), varied scales.
    static func rows(_ count: Int, _ cols: Int, seed: UInt64) -> [Float] {
        var g = GPTQTests.Gaussian(state: seed)
        var x = [Float](repeating: 0, count: count * cols)
        for r in 0 ..< count {
            let scale = Float(exp(Double(g.next())))
            for j in 0 ..< cols {
                var v = g.next()
                switch r % 4 {
                case 1: v = v * v * v
                case 2: v = abs(v) + 0.3
                case 3: if j % 37 == 0 { v *= 8 }
                default: break
                }
                x[r * cols + j] = v * scale * 0.02
            }
        }
        return x
    }

    func encode(_ type: TensorType, _ x: ArraySlice<Float>, weights: [Float]?, reference: Bool, effort: Int = 0) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: type.byteCount(elements: x.count)!)
        let row = Array(x)
        let rc: Int32 = row.withUnsafeBufferPointer { src in
            if reference { return moe_quantize_ggml(Int32(type.rawValue), src.baseAddress, &out, Int64(row.count), nil) }
            if let weights { return weights.withUnsafeBufferPointer { moe_quantize_kopt(Int32(type.rawValue), src.baseAddress, &out, Int64(row.count), $0.baseAddress, Int32(effort)) } }
            return moe_quantize_kopt(Int32(type.rawValue), src.baseAddress, &out, Int64(row.count), nil, Int32(effort))
        }
        #expect(rc == 0)
        return out
    }

    func error(_ type: TensorType, _ x: ArraySlice<Float>, _ bytes: [UInt8], weights: [Float]?) -> Double {
        let decoded = Dequantize.row(type: type, src: bytes, count: x.count)
        var e = 0.0
        for (j, v) in x.enumerated() {
            let r = Double(v) - Double(decoded[j])
            e += Double(weights?[j] ?? 1) * r * r
        }
        return e
    }

    @Test(arguments: types)
    func roundTripAndNoWorseThanReference(type: TensorType) {
        let cols = 512, count = 24
        let x = Self.rows(count, cols, seed: 5)
        var g = GPTQTests.Gaussian(state: 9)
        let weights = (0 ..< cols).map { _ in Float(exp(Double(g.next()))) }
        // Relative RMS error bound of each type on these rows (about 2× what they reach).
        let bound: [TensorType: Double] = [.q2_K: 0.6, .q3_K: 0.35, .q4_K: 0.15, .q5_K: 0.08, .q6_K: 0.04, .q5_0: 0.1, .q5_1: 0.08, .mxfp4: 0.3]
        var refTotal = 0.0, optTotal = 0.0, refWeighted = 0.0, optWeighted = 0.0
        for r in 0 ..< count {
            let row = x[r * cols ..< (r + 1) * cols]
            let energy = row.reduce(0.0) { $0 + Double($1 * $1) }
            let ref = encode(type, row, weights: nil, reference: true)
            let opt = encode(type, row, weights: nil, reference: false)
            let eRef = error(type, row, ref, weights: nil), eOpt = error(type, row, opt, weights: nil)
            #expect((eRef / energy).squareRoot() < bound[type]!, "\(type) row \(r): reference rms \((eRef / energy).squareRoot())")
            // Block for block the search keeps the reference when it finds nothing better, so the row cannot be worse.
            #expect(eOpt <= eRef * (1 + 1e-9), "\(type) row \(r): optimised \(eOpt) > reference \(eRef)")
            refTotal += eRef
            optTotal += eOpt
            let weighted = encode(type, row, weights: weights, reference: false)
            refWeighted += error(type, row, ref, weights: weights)
            optWeighted += error(type, row, weighted, weights: weights)
        }
        print("\(type): optimised/reference squared error \(optTotal / refTotal), weighted \(optWeighted / refWeighted)")
        #expect(optTotal < refTotal)
        #expect(optWeighted < refWeighted)
    }

    @Test("a row of zeros stays zeros", arguments: types)
    func zeros(type: TensorType) {
        let row = [Float](repeating: 0, count: 256)[...]
        for reference in [true, false] {
            #expect(Dequantize.row(type: type, src: encode(type, row, weights: nil, reference: reference), count: 256).allSatisfy { $0 == 0 })
        }
    }

    @Test("rows that do not divide into blocks are refused")
    func badLengths() {
        var out = [UInt8](repeating: 0, count: 1024)
        let x = [Float](repeating: 1, count: 96)
        #expect(moe_quantize_kopt(Int32(TensorType.q4_K.rawValue), x, &out, 96, nil, 0) == -1)
        #expect(moe_quantize_ggml(Int32(TensorType.q4_K.rawValue), x, &out, 96, nil) == -1)
        #expect(moe_quantize_kopt(Int32(TensorType.q4_0.rawValue), x, &out, 96, nil, 0) == -1)
    }

    @Test(arguments: types)
    func gptqLowersProductError(type: TensorType) throws {
        let rows = 8, cols = 256, n = 1024
        let x = GPTQTests.inputs(n, cols, seed: 7)
        let h = GPTQTests.secondMoments(x, n, cols)
        let factor = try #require(GPTQFactor(secondMoments: h, cols: cols))
        var g = GPTQTests.Gaussian(state: 11)
        let w = (0 ..< rows * cols).map { _ in g.next() * 0.05 }
        var plain = [Float](repeating: 0, count: rows * cols), gptq = plain
        for r in 0 ..< rows {
            let row = w[r * cols ..< (r + 1) * cols]
            plain.replaceSubrange(r * cols ..< (r + 1) * cols, with: Dequantize.row(type: type, src: encode(type, row, weights: factor.diagonal, reference: false), count: cols))
            var work = Array(row)
            var bytes = [UInt8](repeating: 0, count: type.byteCount(elements: cols)!)
            let rc = factor.u.withUnsafeBufferPointer { u in
                factor.diagonal.withUnsafeBufferPointer { d in
                    moe_gptq_row(Int32(type.rawValue), &work, Int64(cols), u.baseAddress, d.baseAddress, &bytes, 0)
                }
            }
            #expect(rc == 0)
            let decoded = Dequantize.row(type: type, src: bytes, count: cols)
            #expect(decoded == work, "GPTQ's reported values are what the bytes decode to")
            gptq.replaceSubrange(r * cols ..< (r + 1) * cols, with: decoded)
        }
        let ePlain = GPTQTests.productError(w, plain, h, rows: rows, cols: cols)
        let eGPTQ = GPTQTests.productError(w, gptq, h, rows: rows, cols: cols)
        print("GPTQ \(type): product error \(eGPTQ / ePlain) of weighted block rounding's")
        #expect(eGPTQ < 0.8 * ePlain)
    }
}

/// The llama-quantize mixes, without llama.cpp: the type table of the reference model (8 layers, 32 experts, GQA 2,
/// expert FFN width 96) as llama.cpp's rules give it.
@Suite struct LlamaMixTests {
    static var model: LlamaMix.Model {
        var m = LlamaMix.Model()
        m.layers = 8
        m.experts = 32
        m.gqa = 2
        m.attentionVLayers = Array(0 ..< 8)
        return m
    }

    func type(_ mix: LlamaMix, _ name: String, _ shape: [Int]) -> TensorType {
        var r = TypeRules.mix(mix)
        r.model = Self.model
        return r.type(name: name, shape: shape).type
    }

    @Test func useMoreBits() {
        #expect((0 ..< 8).filter { LlamaMix.useMoreBits($0, 8) } == [0, 3, 6, 7])
        // 48 layers: 0…5, 42…47, and 8, 11, …, 41
        #expect((0 ..< 48).filter { LlamaMix.useMoreBits($0, 48) }.count == 24)
    }

    @Test func q4KM() {
        let down = [32, 256, 96], up = [32, 96, 256]
        #expect(type(.q4_K_M, "blk.0.ffn_down_exps.weight", down) == .q8_0) // Q6_K → Q8_0 (96 columns)
        #expect(type(.q4_K_M, "blk.1.ffn_down_exps.weight", down) == .q5_0) // Q4_K → Q5_0
        #expect(type(.q4_K_M, "blk.1.ffn_up_exps.weight", up) == .q4_K)
        #expect(type(.q4_K_M, "blk.3.attn_v.weight", [128, 256]) == .q6_K)
        #expect(type(.q4_K_M, "blk.4.attn_v.weight", [128, 256]) == .q4_K)
        #expect(type(.q4_K_M, "blk.4.attn_output.weight", [256, 256]) == .q4_K)
        #expect(type(.q4_K_M, "output.weight", [4096, 256]) == .q6_K)
        #expect(type(.q4_K_M, "token_embd.weight", [4096, 256]) == .q4_K)
        #expect(type(.q4_K_M, "blk.4.ffn_gate_inp.weight", [32, 256]) == .f32)
        #expect(type(.q4_K_M, "blk.4.attn_norm.weight", [256]) == .f32)
    }

    @Test func q3KMAndQ2K() {
        #expect(type(.q3_K_M, "blk.0.attn_v.weight", [128, 256]) == .q5_K)
        #expect(type(.q3_K_M, "blk.2.attn_v.weight", [128, 256]) == .q4_K)
        #expect(type(.q3_K_M, "blk.2.attn_output.weight", [256, 256]) == .q4_K)
        #expect(type(.q3_K_M, "blk.2.ffn_down_exps.weight", [32, 256, 96]) == .q5_0) // Q4_K → Q5_0
        #expect(type(.q3_K_M, "blk.2.ffn_gate_exps.weight", [32, 96, 256]) == .q3_K)
        #expect(type(.q2_K, "blk.2.attn_v.weight", [128, 256]) == .q3_K)
        #expect(type(.q2_K, "blk.2.ffn_down_exps.weight", [32, 256, 96]) == .q4_0) // Q3_K → Q4_0
        #expect(type(.q2_K, "blk.2.attn_output.weight", [256, 256]) == .q3_K)
        #expect(type(.q2_K, "blk.2.attn_q.weight", [256, 256]) == .q2_K)
        #expect(type(.q5_K_M, "blk.2.ffn_down_exps.weight", [32, 256, 96]) == .q5_1) // Q5_K → Q5_1
    }

    @Test func mxfp4MoE() {
        #expect(type(.mxfp4MoE, "blk.2.ffn_down_exps.weight", [32, 256, 96]) == .mxfp4)
        #expect(type(.mxfp4MoE, "blk.2.attn_q.weight", [256, 256]) == .q8_0)
        #expect(type(.mxfp4MoE, "token_embd.weight", [4096, 256]) == .q8_0)
        #expect(type(.mxfp4MoE, "output.weight", [4096, 256]) == .q8_0)
    }

    @Test func eightExpertsAndTiedEmbeddings() {
        var r = TypeRules.mix(.q4_K_M)
        r.model = Self.model
        r.model.experts = 8
        #expect(r.type(name: "blk.4.attn_v.weight", shape: [128, 256]).type == .q8_0)
        #expect(r.type(name: "blk.4.attn_k.weight", shape: [128, 256]).type == .q8_0)
        #expect(r.type(name: "blk.4.attn_output.weight", shape: [256, 256]).type == .q5_K)
        r.model.hasOutput = false
        #expect(r.type(name: "token_embd.weight", shape: [4096, 256]).type == .q6_K)
    }
}

/// IQ4_NL and IQ4_XS (ggml's search, quantize_iq4.c): closer to the input than Q4_0 at fewer or as many bytes, with
/// and without importance weights; zeros stay zeros; rows that do not divide are refused.
@Suite struct IQ4WriterTests {
    @Test(arguments: [TensorType.iq4_nl, .iq4_xs])
    func closerThanQ4_0(type: TensorType) {
        let cols = 512, count = 24
        let x = KQuantWriterTests.rows(count, cols, seed: 11)
        var ours = 0.0, q4 = 0.0
        for r in 0 ..< count {
            let row = Array(x[r * cols ..< (r + 1) * cols])
            for weights in [nil, (0 ..< cols).map { Float(1 + ($0 % 7)) }] as [[Float]?] {
                var out = [UInt8](repeating: 0, count: type.byteCount(elements: cols)!)
                let rc = row.withUnsafeBufferPointer { src in
                    weights.map { w in w.withUnsafeBufferPointer { moe_quantize_iq4(Int32(type.rawValue), src.baseAddress, &out, Int64(cols), $0.baseAddress) } }
                        ?? moe_quantize_iq4(Int32(type.rawValue), src.baseAddress, &out, Int64(cols), nil)
                }
                #expect(rc == 0)
                let decoded = Dequantize.row(type: type, src: out, count: cols)
                ours += zip(row, decoded).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            }
            var q = [UInt8](repeating: 0, count: TensorType.q4_0.byteCount(elements: cols)!)
            row.withUnsafeBufferPointer { src in q.withUnsafeMutableBytes { Quantize.row(type: .q4_0, src: src.baseAddress!, dst: $0.baseAddress!, count: cols) } }
            let decoded = Dequantize.row(type: .q4_0, src: q, count: cols)
            q4 += 2 * zip(row, decoded).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        }
        #expect(type.byteCount(elements: cols)! <= TensorType.q4_0.byteCount(elements: cols)!)
        #expect(ours < q4, "\(type): squared error \(ours) against Q4_0's \(q4)")
        var zeros = [UInt8](repeating: 0xAA, count: type.byteCount(elements: 256)!)
        let z = [Float](repeating: 0, count: 256)
        #expect(moe_quantize_iq4(Int32(type.rawValue), z, &zeros, 256, nil) == 0)
        #expect(Dequantize.row(type: type, src: zeros, count: 256).allSatisfy { $0 == 0 })
        #expect(moe_quantize_iq4(Int32(type.rawValue), z, &zeros, 16, nil) == -1)
        #expect(moe_quantize_iq4(Int32(TensorType.q4_0.rawValue), z, &zeros, 256, nil) == -1)
    }
}

/// moe-quantize's mixes against llama-quantize's files made here from the bf16 GGUF (llama.cpp from
/// Tools/scripts/build-llamacpp.sh or `$LLAMA_CPP_BIN`; skipped when absent): with `--rounding reference` the same
/// tensor types, the same bytes and the same file size.
@Suite(.enabled(if: SharedData.tiny != nil && LlamaCpp.quantize != nil, "llama.cpp's llama-quantize or ../shared is absent"))
struct LlamaQuantizeMixTests {
    /// llama-quantize INPUT OUTPUT FTYPE with 2 threads, its output discarded.
    static func llamaQuantize(_ input: String, _ output: String, _ ftype: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LlamaCpp.quantize!)
        p.arguments = [input, output, ftype, "2"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "llama-quantize \(ftype) failed")
    }

    @Test(arguments: LlamaMix.allCases)
    func sameFileAsLlamaQuantize(mix: LlamaMix) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let input = SharedData.tiny! + "/tiny-qwen3moe-bf16.gguf"
        let theirsPath = dir.file("theirs.gguf")
        try Self.llamaQuantize(input, theirsPath, mix.rawValue)
        var options = QuantizeOptions(rules: .mix(mix), threads: 2)
        options.rounding = .reference
        let oursPath = dir.file("ours.gguf")
        try QuantizeJob(input: input, options: options).write(to: oursPath)
        let ours = try GGUFFile(path: oursPath), theirs = try GGUFFile(path: theirsPath)
        #expect(ours.tensors.count == theirs.tensors.count)
        for t in theirs.tensors {
            guard let o = ours.tensor(t.name) else { Issue.record("missing \(t.name)"); continue }
            #expect(o.type == t.type && o.shape == t.shape, "\(mix) \(t.name): \(o.type) vs llama-quantize's \(t.type)")
            #expect(o.bytes.elementsEqual(t.bytes), "\(mix) \(t.name) (\(t.type)): bytes differ")
        }
        #expect(ours.metadata["general.file_type"] == theirs.metadata["general.file_type"])
        let size = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }
        #expect(size(oursPath) == size(theirsPath), "\(mix): file size")
    }

    /// IQ4_XS and IQ4_NL with `--rounding reference`: every tensor that both files store in the same type has
    /// llama-quantize's bytes (its IQ4 file types also bump a few tensors by its own rules, which --type does not).
    @Test(arguments: [("IQ4_XS", TensorType.iq4_xs), ("IQ4_NL", .iq4_nl)])
    func iq4BytesAsLlamaQuantize(ftype: String, type: TensorType) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let input = SharedData.tiny! + "/tiny-qwen3moe-bf16.gguf"
        let theirsPath = dir.file("theirs.gguf")
        try Self.llamaQuantize(input, theirsPath, ftype)
        var options = QuantizeOptions(rules: .uniform(type), threads: 2)
        options.rounding = .reference
        let oursPath = dir.file("ours.gguf")
        try QuantizeJob(input: input, options: options).write(to: oursPath)
        let ours = try GGUFFile(path: oursPath), theirs = try GGUFFile(path: theirsPath)
        var compared: [TensorType: Int] = [:]
        for t in theirs.tensors where t.type.isQuantized {
            guard let o = ours.tensor(t.name), o.type == t.type else { continue }
            compared[t.type, default: 0] += 1
            #expect(o.bytes.elementsEqual(t.bytes), "\(ftype) \(t.name) (\(t.type)): bytes differ")
        }
        // The reference model: 8 layers; rows of 96 (ffn_down_exps) fall back to IQ4_NL.
        #expect((compared[type] ?? 0) >= 40 && (compared[.iq4_nl] ?? 0) >= 7, "\(compared)")
    }
}
