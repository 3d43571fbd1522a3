import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// The reference quantizers: blocks worked out by hand from ggml's formulas, round-trip error bounds, and
/// byte-for-byte agreement with llama-quantize's own output on the tiny reference model.
struct QuantizeTests {
    /// f16 bits then the block's other bytes.
    static func block(_ halves: [UInt16], _ rest: [UInt8]) -> [UInt8] {
        halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } + rest
    }

    @Test("Q8_0 by hand: d = amax / 127, codes rounded half away from zero")
    func q8_0ByHand() {
        // amax 127 → d = 1: codes are the values rounded (0.5 → 1, -2.5 → -3, not to even).
        var x: [Float] = [127, -127, 0.5, -0.5, 1.5, -1.5, 2.5, 2.4, 2.6, -2.5] + [Float](repeating: 0, count: 22)
        let codes1: [Int8] = [127, -127, 1, -1, 2, -2, 3, 2, 3, -3] + [Int8](repeating: 0, count: 22)
        // amax 254 → d = 2: 3 → 1.5 → 2, 1 → 0.5 → 1, 5 → 2.5 → 3.
        x += [254, 3, 1, -1, 5] + [Float](repeating: 0, count: 27)
        let codes2: [Int8] = [127, 2, 1, -1, 3] + [Int8](repeating: 0, count: 27)
        x += [Float](repeating: 0, count: 32) // d = 0, codes 0
        let expected = Self.block([0x3C00], codes1.map { UInt8(bitPattern: $0) })
            + Self.block([0x4000], codes2.map { UInt8(bitPattern: $0) })
            + Self.block([0x0000], [UInt8](repeating: 0, count: 32))
        #expect(Quantize.row(type: .q8_0, x) == expected)
    }

    @Test("Q4_0 by hand: the signed extreme gets code 0, d = max / -8, codes trunc(x/d + 8.5) clamped to 15")
    func q4_0ByHand() {
        // Block 1: max = -8 (first of largest magnitude) → d = 1. First half j − 8 → code j; second half
        // (j − 8) / 2 → trunc(j/2 + 4.5).
        var x = (0 ..< 16).map { Float($0 - 8) } + (0 ..< 16).map { Float($0 - 8) / 2 }
        let high: [UInt8] = [4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12]
        let bytes1 = (0 ..< 16).map { UInt8($0) | high[$0] << 4 }
        // Block 2: 8 − j/2, max = +8 → d = −1: code trunc(j/2 + 0.5), so j = 31 gives 16, clamped to 15.
        x += (0 ..< 32).map { 8 - Float($0) / 2 }
        let code2 = (0 ..< 32).map { UInt8(min(15, ($0 + 1) / 2)) }
        let bytes2 = (0 ..< 16).map { code2[$0] | code2[$0 + 16] << 4 }
        // Block 3: zeros → d = 0 / −8 = −0 (f16 0x8000), every code 8.
        x += [Float](repeating: 0, count: 32)
        let expected = Self.block([0x3C00], bytes1) + Self.block([0xBC00], bytes2)
            + Self.block([0x8000], [UInt8](repeating: 0x88, count: 16))
        #expect(Quantize.row(type: .q4_0, x) == expected)
    }

    @Test("Q4_1 by hand: d = (max − min) / 15, m = min, codes trunc((x − min)/d + 0.5)")
    func q4_1ByHand() {
        // min −1, max 14 → d = 1, m = −1: code trunc(x + 1.5).
        var x = [Float](repeating: 0, count: 32)
        let values: [(Int, Float, UInt8)] = [(0, -1, 0), (1, 14, 15), (2, 0.4, 1), (3, 0.5, 2), (16, 0.6, 2), (17, 13.4, 14), (18, 13.5, 15)]
        var codes = [UInt8](repeating: 1, count: 32) // zeros → trunc(1.5) = 1
        for (i, v, c) in values { x[i] = v; codes[i] = c }
        let expected = Self.block([0x3C00, 0xBC00], (0 ..< 16).map { codes[$0] | codes[$0 + 16] << 4 })
        #expect(Quantize.row(type: .q4_1, x) == expected)
    }

    @Test("f16 and bf16 conversions round to nearest even")
    func halfConversions() {
        #expect(Quantize.bf16Bits(1) == 0x3F80)
        #expect(Quantize.bf16Bits(1 + 0x1p-8) == 0x3F80)       // halfway, to even
        #expect(Quantize.bf16Bits(1 + 3 * 0x1p-8) == 0x3F82)   // halfway, to even
        #expect(Quantize.bf16Bits(-2) == 0xC000)
        #expect(Quantize.bf16Bits(.nan) & 0x7FC0 == 0x7FC0)
        #expect(Quantize.f16Bits(65520) == 0x7C00)             // rounds up to infinity
        #expect(Quantize.f16Bits(0x1p-25) == 0)                // halfway to the smallest subnormal, to even
        var rng = SeededRNG(seed: 7)
        for _ in 0 ..< 100_000 {
            let x = Float(bitPattern: UInt32.random(in: 0 ... 0x477F_FFFF, using: &rng)) * (Bool.random(using: &rng) ? 1 : -1)
            guard Quantize.f16Bits(x) == Float16(x).bitPattern else {
                Issue.record("f16(\(x)): \(Quantize.f16Bits(x)) vs Swift's \(Float16(x).bitPattern)")
                return
            }
        }
    }

    /// Normal values at several scales: dequantize(quantize(x)) within each format's bound, where d16 is the
    /// stored f16 scale (error ≤ half an f16 ulp): Q8_0 d/2 + 127·|d − d16|; Q4_0 amax/8 (the clamp at 15 costs a
    /// whole step) + 8·|d − d16|; Q4_1 d/2 + 15·|d − d16| + |m − m16|.
    @Test("dequantize(quantize(x)) stays within each format's bound", arguments: [TensorType.q8_0, .q4_0, .q4_1])
    func roundTrip(type: TensorType) {
        var rng = SeededRNG(seed: 11)
        for scale: Float in [1e-3, 0.02, 1, 300] {
            let n = 32 * 256
            let x = (0 ..< n).map { _ in scale * Float.random(in: -1 ... 1, using: &rng) * Float.random(in: 0 ... 1, using: &rng) }
            let q = Quantize.row(type: type, x)
            let y = q.withUnsafeBytes { Dequantize.row(type: type, src: $0.baseAddress!, count: n) }
            for b in 0 ..< n / 32 {
                let block = x[b * 32 ..< b * 32 + 32]
                let amax = block.map(abs).max()!, lo = block.min()!, hi = block.max()!
                // Largest error of storing v as f16: half an ulp, 2⁻²⁵ for subnormals.
                let e16 = { (v: Float) in max(abs(v) * 0x1p-11, 0x1p-25) * 1.01 }
                let bound: Float
                switch type {
                case .q8_0: bound = amax / 127 / 2 + 127 * e16(amax / 127)
                case .q4_0: bound = amax / 8 + 8 * e16(amax / 8)
                default: bound = (hi - lo) / 15 / 2 + 15 * e16((hi - lo) / 15) + e16(lo)
                }
                for i in b * 32 ..< b * 32 + 32 where abs(y[i] - x[i]) > bound * 1.0001 + 1e-12 {
                    Issue.record("\(type) scale \(scale) element \(i): \(y[i]) vs \(x[i]), bound \(bound)")
                    return
                }
            }
        }
    }
}

/// llama-quantize made tiny-qwen3moe-Q8_0.gguf and -Q4_0.gguf from tiny-qwen3moe-bf16.gguf with ggml's
/// reference quantizers: ours must give the very same bytes for every tensor of that type.
@Suite(.enabled(if: sharedDir != nil, "../shared (or $MOE_SHARED) not found: llama-quantize comparison skipped"))
struct QuantizeMatchesLlamaQuantizeTests {
    @Test("byte-identical to llama-quantize", arguments: [("tiny-qwen3moe-Q8_0.gguf", TensorType.q8_0), ("tiny-qwen3moe-Q4_0.gguf", .q4_0)])
    func matches(file: String, type: TensorType) throws {
        let dir = "\(sharedDir!)/models/tiny-qwen3moe/"
        let source = try GGUFFile(path: dir + "tiny-qwen3moe-bf16.gguf")
        let quantized = try GGUFFile(path: dir + file)
        var compared = 0
        for q in quantized.tensors where q.type == type {
            let b = try #require(source.tensor(q.name))
            let n = b.elementCount
            let x = Dequantize.row(type: b.type, src: b.bytes.baseAddress!, count: n) // bf16 → f32, exact
            let ours = Quantize.row(type: type, x)
            #expect(ours.elementsEqual(q.bytes), "\(q.name): differs from llama-quantize's \(type)")
            compared += 1
        }
        #expect(compared >= 8 * 7, "only \(compared) \(type) tensors compared")
    }
}
