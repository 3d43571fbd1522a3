import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// One token's products through `packed`, group ranges split at `splits`.
func oneToken(_ packed: RepackedRows, _ xq: [UInt8], rows: Int, splits: [Int], generic: Bool) -> [Float] {
    var got = [Float](repeating: .nan, count: rows)
    xq.withUnsafeBytes { xb in
        got.withUnsafeMutableBufferPointer { y in
            for (g0, g1) in zip(splits, splits.dropFirst()) where g1 > g0 {
                if generic { packed.multiplyGeneric(groups: g0 ..< g1, x: xb.baseAddress!, y: y.baseAddress!) }
                else { packed.multiply(groups: g0 ..< g1, x: xb.baseAddress!, y: y.baseAddress!) }
            }
        }
    }
    return got
}

/// `n` tokens' products through `packed` at once (`ldy` = rows), group ranges split at `splits`.
func severalTokens(_ packed: RepackedRows, _ xq: [UInt8], rows: Int, tokens n: Int, splits: [Int], generic: Bool) -> [Float] {
    var y = [Float](repeating: .nan, count: rows * n)
    xq.withUnsafeBytes { xb in
        y.withUnsafeMutableBufferPointer { yb in
            for (g0, g1) in zip(splits, splits.dropFirst()) where g1 > g0 {
                packed.multiply(groups: g0 ..< g1, tokens: n, x: xb.baseAddress!, y: yb.baseAddress!, ldy: rows, generic: generic)
            }
        }
    }
    return y
}

/// The x8 repacked Q4_0 and MXFP4 kernels (`RepackedRows.Layout.q4_0x8`, `.mxfp4x8`, moe_repack.h) against the row-major
/// one-token product: the SIMD kernel bit for bit (same integer sums, lanes and float operations), the scalar reference
/// bit for bit against the scalar row-major path; any row-group split gives the same outputs.
@Suite struct RepackedX8Tests {
    @Test(arguments: [RepackedRows.Layout.q4_0x8, .mxfp4x8].map(\.name), [(8, 32), (16, 17 * 32), (64, 2048), (24, 96), (8, 1024 * 32)])
    func matchesRowMajor(name: String, shape: (rows: Int, cols: Int)) throws {
        let (rows, cols) = shape
        let layout = try #require(RepackedRows.Layout.all.first { $0.name == name })
        var rng = SeededRNG(seed: UInt64(rows * 131 + cols + Int(layout.type.rawValue)))
        let w = randomWeights(layout.type, rows: rows, cols: cols, rng: &rng)
        let x = randomActivations(cols, rng: &rng)
        let xq = quantizeActs(.q8_0, x, generic: false)
        try w.withUnsafeBytes { wb in
            let m = try WeightMatrix(type: layout.type, rows: rows, cols: cols, base: wb.baseAddress!)
            let packed = try RepackedRows(m, layout: layout)
            #expect(packed.byteCount == w.count)
            for generic in [false, true] {
                var expected = [Float](repeating: 0, count: rows)
                xq.withUnsafeBytes { xb in
                    expected.withUnsafeMutableBufferPointer { y in
                        // The x8 SIMD kernel reproduces the AVX2 level (level 1 on x86), whatever level the CPU's best is.
                        let rc = moe_matmul_q_level(generic ? 0 : min(1, Int32(Kernels.levels.upperBound)), layout.type.rawValue,
                                                    Int64(rows), 1, Int64(cols), wb.baseAddress, m.rowBytes, xb.baseAddress, y.baseAddress, Int64(rows))
                        #expect(rc == 0)
                    }
                }
                // Whole matrix in one call, and split into uneven group ranges.
                for splits in [[0, rows / 8], [0, 1, rows / 8]] where splits.last! >= splits[splits.count - 2] {
                    let got = oneToken(packed, xq, rows: rows, splits: splits, generic: generic)
                    #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "\(name) \(rows)×\(cols) generic=\(generic) splits \(splits)")
                }
            }
        }
    }

    @Test func refusesOtherTypesAndWideRows() throws {
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: 18 * 1025, alignment: 64)
        defer { bytes.deallocate() }
        let q8 = try WeightMatrix(type: .q8_0, rows: 8, cols: 32, base: bytes)
        #expect(throws: KernelError.self) { try RepackedRows(q8, layout: .q4_0x8) }
        let wide = try WeightMatrix(type: .q4_0, rows: 1, cols: 1025 * 32, base: bytes)
        #expect(throws: KernelError.self) { try RepackedRows(wide, layout: .q4_0x8) }
    }
}

/// One token through a repacked layout: every path (the SIMD kernel and the scalar reference, any group split) gives the
/// same bits, and those equal the row-major product of each kernel level in `levels` that this CPU has.
private func checkOneToken(_ name: String, rows: Int, cols: Int, seed: UInt64, levels: [Int32]) throws {
    let layout = try #require(RepackedRows.Layout.all.first { $0.name == name })
    var rng = SeededRNG(seed: seed + UInt64(layout.type.rawValue))
    let w = randomWeights(layout.type, rows: rows, cols: cols, rng: &rng)
    let xq = quantizeActs(layout.type.blockSize == 32 ? .q8_0 : .q8_K, randomActivations(cols, rng: &rng), generic: false)
    let groups = rows / layout.groupRows
    try w.withUnsafeBytes { wb in
        let m = try WeightMatrix(type: layout.type, rows: rows, cols: cols, base: wb.baseAddress!)
        let packed = try RepackedRows(m, layout: layout)
        #expect(packed.byteCount == w.count)
        var results: [[Float]] = []
        for generic in [false, true] {
            for splits in [[0, groups], [0, 1, groups]] where splits.last! >= splits[splits.count - 2] {
                results.append(oneToken(packed, xq, rows: rows, splits: splits, generic: generic))
            }
        }
        #expect(results.allSatisfy { $0.map(\.bitPattern) == results[0].map(\.bitPattern) }, "\(name) \(rows)×\(cols): paths differ")
        #if arch(x86_64)
        for level in levels where Kernels.levels.upperBound >= Int(level) {
            var expected = [Float](repeating: 0, count: rows)
            xq.withUnsafeBytes { xb in
                expected.withUnsafeMutableBufferPointer { y in
                    #expect(moe_matmul_q_level(level, layout.type.rawValue, Int64(rows), 1, Int64(cols), wb.baseAddress, m.rowBytes,
                                               xb.baseAddress, y.baseAddress, Int64(rows)) == 0)
                }
            }
            #expect(results[0].map(\.bitPattern) == expected.map(\.bitPattern), "\(name) \(rows)×\(cols): vs row-major level \(level)")
        }
        #endif
    }
}

/// The x16 layouts (Q4_0, MXFP4, Q4_K, Q6_K, Q3_K, IQ4_XS): bit for bit the AVX-512 level's row-major one-token product, by the
/// SIMD kernel where that level runs and by the scalar reference everywhere; any group split alike.
@Suite struct RepackedX16Tests {
    static let cases: [(String, Int, Int)] = [
        ("MXFP4 x16", 16, 32), ("MXFP4 x16", 32, 17 * 32), ("MXFP4 x16", 48, 2048), ("MXFP4 x16", 64, 1024 * 32),
        ("Q4_0 x16", 16, 32), ("Q4_0 x16", 32, 17 * 32), ("Q4_0 x16", 48, 2048), ("Q4_0 x16", 64, 1024 * 32),
        ("Q4_K x16", 16, 256), ("Q4_K x16", 32, 3 * 256), ("Q4_K x16", 48, 2048), ("Q4_K x16", 16, 40 * 256),
        ("Q3_K x16", 16, 256), ("Q3_K x16", 32, 3 * 256), ("Q3_K x16", 48, 2048), ("Q3_K x16", 16, 40 * 256),
        ("Q6_K x16", 16, 256), ("Q6_K x16", 32, 3 * 256), ("Q6_K x16", 48, 2048), ("Q6_K x16", 16, 40 * 256),
        ("IQ4_XS x16", 16, 256), ("IQ4_XS x16", 32, 5 * 256), ("IQ4_XS x16", 48, 2048), ("IQ4_XS x16", 16, 40 * 256),
    ]

    @Test(arguments: cases)
    func matchesRowMajor(name: String, rows: Int, cols: Int) throws {
        try checkOneToken(name, rows: rows, cols: cols, seed: UInt64(rows * 977 + cols), levels: [2])
    }
}

/// The K-quant x8 layouts (Q3_K, Q4_K, IQ4_XS): bit for bit the AVX2 level's row-major one-token product (and the AVX-512
/// level's, which has the same per-row arithmetic), by the SIMD kernel and by the scalar reference; any group split alike.
@Suite struct RepackedKx8Tests {
    @Test(arguments: ["Q3_K x8", "Q4_K x8", "IQ4_XS x8"], [(8, 256), (16, 3 * 256), (24, 2048), (8, 40 * 256)])
    func matchesRowMajor(name: String, shape: (rows: Int, cols: Int)) throws {
        try checkOneToken(name, rows: shape.rows, cols: shape.cols, seed: UInt64(shape.rows * 389 + shape.cols), levels: [1, 2])
    }
}

/// The layouts that serve prefill too (Q4_0 and MXFP4 x8 and x16, the K-quant x8 and x16 layouts): several tokens at once equal the AVX-512 level's
/// row-major tiles bit for bit (and the scalar reference equals the one-token reference per token), any split.
@Suite struct RepackedTokensTests {
    @Test(arguments: [("Q4_0 x16", 32, 17 * 32), ("Q4_0 x16", 48, 2048), ("MXFP4 x16", 32, 17 * 32), ("MXFP4 x16", 16, 1024 * 32),
                      ("Q4_0 x8", 16, 17 * 32), ("Q4_0 x8", 48, 2048), ("Q4_0 x8", 8, 1024 * 32),
                      ("MXFP4 x8", 16, 17 * 32), ("MXFP4 x8", 48, 2048), ("MXFP4 x8", 8, 1024 * 32),
                      ("Q3_K x8", 16, 3 * 256), ("Q3_K x8", 24, 2048), ("Q4_K x8", 16, 3 * 256), ("Q4_K x8", 24, 2048),
                      ("IQ4_XS x8", 16, 3 * 256), ("IQ4_XS x8", 24, 2048), ("Q4_K x16", 32, 3 * 256), ("Q4_K x16", 48, 2048),
                      ("Q4_K x16", 16, 40 * 256), ("Q6_K x16", 32, 3 * 256), ("Q6_K x16", 48, 2048), ("Q6_K x16", 16, 40 * 256),
                      ("Q3_K x16", 32, 3 * 256), ("Q3_K x16", 48, 2048), ("Q3_K x16", 16, 40 * 256),
                      ("IQ4_XS x16", 32, 5 * 256), ("IQ4_XS x16", 48, 2048), ("IQ4_XS x16", 16, 40 * 256)],
          [2, 3, 4, 5, 9])
    func matchesRowMajorTiles(layout c: (String, Int, Int), tokens n: Int) throws {
        let (name, rows, cols) = c
        let layout = try #require(RepackedRows.Layout.all.first { $0.name == name })
        #expect(layout.servesAll)
        var rng = SeededRNG(seed: UInt64(rows * 31 + cols + n))
        let w = randomWeights(layout.type, rows: rows, cols: cols, rng: &rng)
        let xq = quantizeActs(layout.type.blockSize == 32 ? .q8_0 : .q8_K, (0 ..< n).flatMap { _ in randomActivations(cols, rng: &rng) },
                              generic: false)
        try w.withUnsafeBytes { wb in
            let m = try WeightMatrix(type: layout.type, rows: rows, cols: cols, base: wb.baseAddress!)
            let packed = try RepackedRows(m, layout: layout)
            func run(generic: Bool, splits: [Int]) -> [Float] {
                severalTokens(packed, xq, rows: rows, tokens: n, splits: splits, generic: generic)
            }
            // The one-token kernel per token (SIMD and scalar reference alike): the same bits.
            let xBytes = xq.count / n
            func perToken(generic: Bool) -> [Float] {
                var y = [Float](repeating: .nan, count: rows * n)
                xq.withUnsafeBytes { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        for t in 0 ..< n {
                            let (g, x, out) = (0 ..< rows / layout.groupRows, xb.baseAddress! + t * xBytes, yb.baseAddress! + t * rows)
                            if generic { packed.multiplyGeneric(groups: g, x: x, y: out) } else { packed.multiply(groups: g, x: x, y: out) }
                        }
                    }
                }
                return y
            }
            let simd = perToken(generic: false)
            for generic in [false, true] {
                let one = generic ? perToken(generic: true) : simd
                for splits in [[0, rows / layout.groupRows], [0, 1, rows / layout.groupRows]] {
                    #expect(run(generic: generic, splits: splits).map(\.bitPattern) == one.map(\.bitPattern), "\(name) n=\(n) generic=\(generic) \(splits)")
                }
            }
            // The level whose arithmetic the layout has: AVX2 for x8, AVX-512 for x16 (where this CPU has it).
            let level: Int32 = layout.groupRows == 8 ? 1 : 2
            guard Kernels.levels.upperBound >= Int(level) else { return }
            var expected = [Float](repeating: 0, count: rows * n)
            xq.withUnsafeBytes { xb in
                expected.withUnsafeMutableBufferPointer { y in
                    #expect(moe_matmul_q_level(level, layout.type.rawValue, Int64(rows), Int64(n), Int64(cols), wb.baseAddress, m.rowBytes,
                                               xb.baseAddress, y.baseAddress, Int64(rows)) == 0)
                }
            }
            #expect(simd.map(\.bitPattern) == expected.map(\.bitPattern), "\(name) n=\(n): repacked vs row-major tiles")
        }
    }
}
