import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// Q5_0, Q5_1, IQ4_NL and MXFP4 (issue 15) beyond what the shared dot / matmul / dequantization suites check.
@Suite struct Quant32Tests {
    @Test func blockLayouts() {
        #expect(MemoryLayout<block_q5_0>.size == TensorType.q5_0.blockBytes && TensorType.q5_0.blockBytes == 22)
        #expect(MemoryLayout<block_q5_1>.size == TensorType.q5_1.blockBytes && TensorType.q5_1.blockBytes == 24)
        #expect(MemoryLayout<block_iq4_nl>.size == TensorType.iq4_nl.blockBytes && TensorType.iq4_nl.blockBytes == 18)
        #expect(MemoryLayout<block_mxfp4>.size == TensorType.mxfp4.blockBytes && TensorType.mxfp4.blockBytes == 17)
        #expect(MemoryLayout<block_mxfp4>.stride == 17) // no padding: rows are 17-byte blocks back to back
        #expect(TensorType(rawValue: 20) == .iq4_nl && TensorType(rawValue: 39) == .mxfp4)
        #expect(TensorType(name: "mxfp4") == .mxfp4 && TensorType(name: "IQ4_NL") == .iq4_nl)
        for t in quant32WeightTypes { #expect(t.isSupported && t.blockSize == 32) }
    }

    /// Every E8M0 byte with every code: x = 2^(e − 128) · doubled E2M1 value, as ggml's
    /// GGML_E8M0_TO_FP32_HALF — e = 0, 1 the float subnormals 2⁻¹²⁸, 2⁻¹²⁷, and e = 0xFF read as 2¹²⁷ (not
    /// NaN, as ggml and gguf-py: codes ±2 … ±12 overflow to ±inf there). Generic and SIMD alike, bit for bit.
    @Test func mxfp4ExponentsAndCodes() {
        let kvalues: [Float] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]
        var raw: [UInt8] = []
        var expected: [Float] = []
        for e in 0 ... 255 {
            // Block: codes 0..15 in the low nibbles (elements 0..15), 15..0 in the high ones (16..31).
            raw.append(UInt8(e))
            for j in 0 ..< 16 { raw.append(UInt8(j) | UInt8(15 - j) << 4) }
            let scale = Float(sign: .plus, exponent: e - 128, significand: 1)
            expected += (0 ..< 16).map { kvalues[$0] * scale } + (0 ..< 16).map { kvalues[15 - $0] * scale }
        }
        #expect(Float(sign: .plus, exponent: -128, significand: 1).bitPattern == 0x0020_0000) // subnormal, exact
        let n = expected.count
        for (path, got) in [("generic", dequantGeneric(.mxfp4, raw, count: n)),
                            ("dispatched", raw.withUnsafeBytes { Dequantize.row(type: .mxfp4, src: $0.baseAddress!, count: n) })] {
            let bad = (0 ..< n).filter { got[$0].bitPattern != expected[$0].bitPattern }
            #expect(bad.isEmpty, "\(path): \(bad.count) differ, first element \(bad.first ?? -1)")
        }
        // e = 0xFF: 2¹²⁷ · 1 is finite, 2¹²⁷ · 2 is +inf.
        #expect(expected[255 * 32 + 1] == 0x1p127 && expected[255 * 32 + 2] == .infinity && expected[255 * 32 + 9] == -0x1p127)
    }

    /// Every Q5 code 0…31 (all fifth-bit patterns): x = d (q − 16) for Q5_0 and d q + m for Q5_1, generic and
    /// SIMD, against a Swift evaluation of ggml's formula.
    @Test(arguments: [TensorType.q5_0, .q5_1])
    func q5CodesAndBits(_ t: TensorType) {
        var rng = SeededRNG(seed: 0x55 + UInt64(t.rawValue))
        var raw: [UInt8] = []
        var expected: [Float] = []
        for b in 0 ..< 64 {
            let q = (0 ..< 32).map { ($0 + b) % 32 } // every code at every position across the blocks
            let d = Float16(Float.random(in: -3 ... 3, using: &rng)), m = Float16(Float.random(in: -3 ... 3, using: &rng))
            var block = [UInt8](repeating: 0, count: t.blockBytes)
            writeHalf(&block, 0, d)
            if t == .q5_1 { writeHalf(&block, 2, m) }
            let qhAt = t == .q5_1 ? 4 : 2, qsAt = qhAt + 4
            for j in 0 ..< 32 where q[j] >= 16 { block[qhAt + j / 8] |= UInt8(1 << (j % 8)) }
            for j in 0 ..< 16 { block[qsAt + j] = UInt8(q[j] & 15) | UInt8(q[j + 16] & 15) << 4 }
            raw += block
            expected += q.map { t == .q5_0 ? Float($0 - 16) * Float(d) : Float($0) * Float(d) + Float(m) }
        }
        let n = expected.count
        for (path, got) in [("generic", dequantGeneric(t, raw, count: n)),
                            ("dispatched", raw.withUnsafeBytes { Dequantize.row(type: t, src: $0.baseAddress!, count: n) })] {
            let bad = (0 ..< n).filter { got[$0].bitPattern != expected[$0].bitPattern }
            #expect(bad.isEmpty, "\(t) \(path): \(bad.count) differ, first element \(bad.first ?? -1)")
        }
    }

    /// The engine's matrix-vector product (WeightMatrix, QuantizedActivations, QuantizedMatMul) against the float
    /// reference: dequantize the rows, dot them with the float activations in double precision. Bound as
    /// QuantDotTests.closeToFloat: the activations' quantization error (per block, times Σ|ŵ|), Q5_1's stored
    /// s term, and 1e-5 Σ|ŵ x| of rounding.
    @Test(arguments: quant32WeightTypes)
    func matvecMatchesFloatReference(_ t: TensorType) throws {
        var rng = SeededRNG(seed: 0x3A + UInt64(t.rawValue))
        let rows = 19, cols = 1024
        var bytes = randomBlocks(t, blocks: rows * cols / 32, rng: &rng)
        if t == .mxfp4 { // normal-float products d_w · d_x (see closeToFloat)
            for b in 0 ..< rows * cols / 32 where bytes[17 * b] < 2 { bytes[17 * b] = 121 }
        }
        let x = randomActivations(cols, rng: &rng)
        let a = activationType(t)
        try bytes.withUnsafeBytes { raw in
            let w = try WeightMatrix(type: t, rows: rows, cols: cols, base: raw.baseAddress!)
            #expect(w.supportsQuantizedActivations)
            let xq = try QuantizedActivations(for: w, capacity: 1)
            x.withUnsafeBufferPointer { xq.quantize($0.baseAddress!, rows: 1) }
            var y = [Float](repeating: .nan, count: rows)
            QuantizedMatMul.apply(w: w, xq: xq, n: 1, y: &y)
            let xqBytes = [UInt8](UnsafeRawBufferPointer(start: xq.row(0), count: xq.rowBytes))
            let codes = actCodes(a, xqBytes, n: cols)
            for r in 0 ..< rows {
                let wf = Dequantize.row(type: t, src: w.row(r), count: cols)
                let reference = (0 ..< cols).reduce(0.0) { $0 + Double(wf[$1]) * Double(x[$1]) }
                var bound = 1e-5 * (0 ..< cols).reduce(0.0) { $0 + abs(Double(wf[$1]) * Double(x[$1])) }
                for b in 0 ..< cols / 32 {
                    let k = b * 32 ..< (b + 1) * 32
                    let amax = x[k].reduce(0.0) { max($0, Double(abs($1))) }
                    bound += activationErrorBound(a, amax: amax) * k.reduce(0.0) { $0 + abs(Double(wf[$1])) }
                    if t == .q5_1 {
                        let m = Double(abs(readHalf(bytes, (r * cols / 32 + b) * t.blockBytes + 2)))
                        bound += m * Double(abs(codes[k].reduce(0, +))) * (amax / 127) * 0x1p-10 * 1.01
                    }
                }
                #expect(abs(Double(y[r]) - reference) <= bound, "\(t) row \(r): \(y[r]) vs float \(reference), bound \(bound)")
            }
        }
    }
}

/// The MXFP4 expert tensors of the shared tiny gpt-oss GGUF, dequantized by our kernels, against the `gguf`
/// package's numpy dequantizer (Fixtures/make_mxfp4_fixture.py: CRC-32 of all values, bit for bit).
@Suite(.enabled(if: sharedDir != nil, "../shared (or $MOE_SHARED) not found: real MXFP4 file check skipped"))
struct RealMXFP4Tests {
    @Test(arguments: RealMXFP4Fixture.tensors.map(\.name))
    func matchesGGUFPackage(_ name: String) throws {
        let f = try #require(RealMXFP4Fixture.tensors.first { $0.name == name })
        let file = try GGUFFile(path: "\(sharedDir!)/\(RealMXFP4Fixture.file)")
        let v = try #require(file.tensor(name))
        #expect(v.type == .mxfp4 && v.elementCount == f.count)
        let w = try WeightMatrix(v)
        for generic in [false, true] {
            var out = [Float](repeating: .nan, count: f.count)
            out.withUnsafeMutableBufferPointer { o in
                if generic {
                    Dequantize.rowGeneric(type: .mxfp4, src: w.base, dst: o.baseAddress!, count: f.count)
                } else {
                    Dequantize.row(type: .mxfp4, src: w.base, dst: o.baseAddress!, count: f.count)
                }
            }
            let crc = out.withUnsafeBytes { crc32($0) }
            #expect(crc == f.crc32, "\(name) \(generic ? "generic" : "dispatched"): CRC-32 \(String(crc, radix: 16)) vs gguf-py \(String(f.crc32, radix: 16))")
            #expect(Array(out.prefix(4)) == f.first)
            let finite = out.allSatisfy { $0.isFinite }
            #expect(finite)
        }
        #expect(f.exponent255 == 0) // the file has no 0xFF exponents (ggml's quantizer never writes them)
    }

    /// CRC-32 (IEEE 802.3, zlib's), bitwise.
    func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0 ..< 8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
        }
        return ~c
    }
}
