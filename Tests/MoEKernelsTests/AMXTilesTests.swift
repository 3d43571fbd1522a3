import CKernels
import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// The AMX tiles (tiles_amx.c; Q4_K's in quant_avx512.c) behind the several-token products on the Q4_0, MXFP4 and Q4_K
/// x16 layouts: bit for bit the
/// one-token AVX-512 product of every token, for token counts around the 16-token tile (full tiles, a padded tail,
/// fewer than a tile), an odd block count (the unpaired last block), any group split; and equal to the AVX-512
/// several-token kernel with the tiles turned off. Runs where the CPU has AMX (an Intel Xeon of the Sapphire Rapids
/// family or later); elsewhere the dispatched products never reach the tiles. One serialized suite: its tests turn the
/// tiles off and on for the whole process.
@Suite(.serialized, .enabled(if: Kernels.amxActive, "this CPU (or SWIFTMOE_AMX=0) leaves the AMX tiles unused"))
struct AMXTilesTests {
    @Test(arguments: [("Q4_0 x16", 32, 17 * 32), ("Q4_0 x16", 48, 2048), ("Q4_0 x16", 16, 1024 * 32),
                      ("MXFP4 x16", 32, 17 * 32), ("MXFP4 x16", 48, 2048), ("MXFP4 x16", 16, 1024 * 32),
                      ("Q4_K x16", 32, 3 * 256), ("Q4_K x16", 48, 2048), ("Q4_K x16", 16, 40 * 256)],
          [9, 15, 16, 17, 40, 64])
    func equalsOneTokenProducts(layout c: (String, Int, Int), tokens n: Int) throws {
        let (name, rows, cols) = c
        let layout = try #require(RepackedRows.Layout.all.first { $0.name == name })
        var rng = SeededRNG(seed: UInt64(rows * 131 + cols * 7 + n))
        let w = randomWeights(layout.type, rows: rows, cols: cols, rng: &rng)
        let xq = quantizeActs(layout.type.blockSize == 32 ? .q8_0 : .q8_K, (0 ..< n).flatMap { _ in randomActivations(cols, rng: &rng) },
                              generic: false)
        let xBytes = xq.count / n
        try w.withUnsafeBytes { wb in
            let packed = try RepackedRows(try WeightMatrix(type: layout.type, rows: rows, cols: cols, base: wb.baseAddress!), layout: layout)
            let groups = rows / 16
            func several(splits: [Int]) -> [Float] { severalTokens(packed, xq, rows: rows, tokens: n, splits: splits, generic: false) }
            var perToken = [Float](repeating: .nan, count: rows * n)
            xq.withUnsafeBytes { xb in
                perToken.withUnsafeMutableBufferPointer { yb in
                    for t in 0 ..< n { packed.multiply(groups: 0 ..< groups, x: xb.baseAddress! + t * xBytes, y: yb.baseAddress! + t * rows) }
                }
            }
            let expected = perToken.map(\.bitPattern)
            for splits in [[0, groups], [0, 1, groups]] {
                #expect(several(splits: splits).map(\.bitPattern) == expected, "\(name) \(rows)×\(cols) n=\(n) tiles \(splits)")
            }
            Kernels.useAMX(false)
            defer { Kernels.useAMX(true) }
            #expect(several(splits: [0, groups]).map(\.bitPattern) == expected, "\(name) \(rows)×\(cols) n=\(n) AVX-512")
        }
    }

    /// Row-major Q4_0, MXFP4 and Q8_0 (the weights a memory budget leaves mapped, and Q8_0 everywhere): the dispatched product sends the whole 16-row
    /// groups of a batch through the tiles and the rest through the AVX-512 kernel; the bits equal the AVX-512 kernel's
    /// alone (tiles off), rows not a multiple of 16 and token counts around the tile alike.
    @Test(arguments: [(TensorType.q4_0, 16, 17 * 32), (.q4_0, 40, 2048), (.mxfp4, 48, 17 * 32), (.mxfp4, 24, 2048), (.q8_0, 32, 17 * 32), (.q8_0, 40, 2048)],
          [9, 16, 17, 40])
    func equalsAVX512(matrix c: (TensorType, Int, Int), tokens n: Int) throws {
        let (type, rows, cols) = c
        var rng = SeededRNG(seed: UInt64(rows * 37 + cols + n))
        let w = randomWeights(type, rows: rows, cols: cols, rng: &rng)
        let xq = quantizeActs(.q8_0, (0 ..< n).flatMap { _ in randomActivations(cols, rng: &rng) }, generic: false)
        let rowBytes = w.count / rows
        func product() -> [UInt32] {
            var y = [Float](repeating: .nan, count: rows * n)
            w.withUnsafeBytes { wb in
                xq.withUnsafeBytes { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        #expect(moe_matmul_q(type.rawValue, Int64(rows), Int64(n), Int64(cols), wb.baseAddress, rowBytes, xb.baseAddress,
                                             yb.baseAddress, Int64(rows)) == 0)
                    }
                }
            }
            return y.map(\.bitPattern)
        }
        let tiles = product()
        Kernels.useAMX(false)
        defer { Kernels.useAMX(true) }
        #expect(tiles == product(), "\(type) \(rows)×\(cols) n=\(n)")
    }
}
