import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

@Suite struct BlockLayoutTests {
    @Test func blockStructSizesMatchTensorType() {
        #expect(MemoryLayout<block_q8_0>.size == TensorType.q8_0.blockBytes)
        #expect(MemoryLayout<block_q4_0>.size == TensorType.q4_0.blockBytes)
        #expect(MemoryLayout<block_q4_1>.size == TensorType.q4_1.blockBytes)
        #expect(MemoryLayout<block_q4_K>.size == TensorType.q4_K.blockBytes)
        #expect(MemoryLayout<block_q5_K>.size == TensorType.q5_K.blockBytes)
        #expect(MemoryLayout<block_q6_K>.size == TensorType.q6_K.blockBytes)
        #expect(MemoryLayout<block_q2_K>.size == TensorType.q2_K.blockBytes)
        #expect(MemoryLayout<block_q3_K>.size == TensorType.q3_K.blockBytes)
        #expect(MemoryLayout<block_iq4_xs>.size == TensorType.iq4_xs.blockBytes)
    }

    @Test(arguments: TensorType.allCases)
    func blockSizesMatch(_ t: TensorType) {
        let size = Int(moe_type_block_size(t.rawValue)), bytes = Int(moe_type_block_bytes(t.rawValue))
        if t.isSupported {
            #expect(size == t.blockSize && bytes == t.blockBytes)
        } else {
            #expect(size == 0 && bytes == 0)
            #expect(moe_dequantize_row(t.rawValue, nil, nil, 0) == -1)
        }
    }

    @Test func rejectsPartialBlocks() {
        var x = [UInt8](repeating: 0, count: 64), y = [Float](repeating: 0, count: 64)
        #expect(moe_dequantize_row(TensorType.q8_0.rawValue, &x, &y, 31) == -1)
        #expect(moe_dequantize_row(TensorType.q8_0.rawValue, &x, &y, 32) == 0)
    }

    /// f16 specials, against Swift's own Float16 → Float (exact) and the fixed NaN rule.
    @Test func halfConversionIsExact() {
        for bits in 0 ... UInt16.max {
            let got = moe_f16_to_f32(bits).bitPattern
            let h = Float16(bitPattern: bits)
            if h.isNaN {
                // payload kept, made quiet (as F16C and NEON do)
                let expected = UInt32(bits & 0x8000) << 16 | 0x7FC0_0000 | UInt32(bits & 0x3FF) << 13
                #expect(got == expected, "f16 \(String(bits, radix: 16))")
            } else {
                #expect(got == Float(h).bitPattern, "f16 \(String(bits, radix: 16))")
            }
        }
        #expect(moe_bf16_to_f32(0x3F80) == 1.0)
        #expect(moe_bf16_to_f32(0xFF81).bitPattern == 0xFF81_0000) // bf16 NaNs are left alone
    }
}

@Suite struct DequantizeTests {
    /// The dispatched (SIMD where available) and generic code give the same bits.
    @Test(arguments: supportedTypes)
    func simdMatchesGeneric(_ t: TensorType) {
        var rng = SeededRNG(seed: 0xD0D0 + UInt64(t.rawValue))
        // Whole-block counts, plus odd counts for the per-element types (SIMD tails).
        let counts = t.isQuantized ? [t.blockSize, 7 * t.blockSize, 33 * t.blockSize] : [1, 7, 8, 15, 16, 17, 1000, 4099]
        for count in counts {
            let bytes = randomBlocks(t, blocks: count / t.blockSize, rng: &rng)
            let reference = dequantGeneric(t, bytes, count: count)
            let fast = bytes.withUnsafeBytes { Dequantize.row(type: t, src: $0.baseAddress!, count: count) }
            let mismatches = (0 ..< count).filter { reference[$0].bitPattern != fast[$0].bitPattern }
            #expect(mismatches.isEmpty, "\(t) n=\(count): \(mismatches.count) mismatches, first at \(mismatches.first ?? -1)")
            if !t.isQuantized || t == .f32 { continue }
            let finite = reference.allSatisfy { $0.isFinite }
            #expect(finite, "\(t): sane scales should give finite values")
        }
    }

    /// Against the gguf Python package's numpy dequantizers (Fixtures/make_fixtures.py), bit for bit.
    @Test(arguments: FixtureData.cases.map(\.name))
    func matchesGGUFPackage(_ name: String) throws {
        let c = try #require(FixtureData.cases.first { $0.name == name })
        let t = try #require(TensorType(name: name))
        let raw = [UInt8](try #require(Data(base64Encoded: c.raw)))
        let expectedBytes = [UInt8](try #require(Data(base64Encoded: c.expected)))
        let count = expectedBytes.count / 4
        #expect(raw.count == t.byteCount(elements: count))
        let expected: [UInt32] = expectedBytes.withUnsafeBytes { b in
            (0 ..< count).map { UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
        for (path, got) in [("generic", dequantGeneric(t, raw, count: count)),
                            ("dispatched", raw.withUnsafeBytes { Dequantize.row(type: t, src: $0.baseAddress!, count: count) })] {
            let bad = (0 ..< count).filter { got[$0].bitPattern != expected[$0] }
            let first = bad.first.map { "element \($0): \(got[$0]) vs \(Float(bitPattern: expected[$0]))" } ?? ""
            #expect(bad.isEmpty, "\(name) \(path): \(bad.count) of \(count) differ; \(first)")
        }
    }
}
