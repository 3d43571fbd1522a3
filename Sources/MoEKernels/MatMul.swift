import CKernels
import Foundation
import MoEFormats

/// y = x · Wᵀ for stored-type weight matrices and float32 token vectors, one product or a batch of them
/// in one parallel region.
public enum MatMul {
    /// Multiply-adds (rows · cols · tokens) below which a batch runs on the calling thread alone:
    /// ≈ 50 µs of work, against a few µs to start a job on a spinning pool (more if workers sleep).
    public static let minParallelWork = 1 << 17

    /// One product: y[t * ldy + r] = Σ_c w[r, c] · x[t * w.cols + c] for t < n, r < w.rows.
    /// - x: n token vectors of `w.cols` floats, back to back.
    /// - y: n rows of `ldy` floats (ldy ≥ w.rows); only the first `w.rows` of each are written.
    public struct Product: @unchecked Sendable {
        public let w: WeightMatrix
        public let x: UnsafePointer<Float>
        public let n: Int
        public let y: UnsafeMutablePointer<Float>
        public let ldy: Int
        /// When set, the same n token vectors already quantized for `w` (rows `xqRow ..< xqRow + n` of
        /// `xq`): the product then runs on 8-bit activations in the integer kernels and `x` is not read.
        public let xq: QuantizedActivations?
        public let xqRow: Int

        public init(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>, yStride: Int? = nil,
                    xq: QuantizedActivations? = nil, xqRow: Int = 0) {
            let ldy = yStride ?? w.rows
            precondition(n >= 0 && ldy >= w.rows, "MatMul.Product: bad n \(n) or yStride \(ldy) < rows \(w.rows)")
            if let xq {
                precondition(QuantizedActivations.activationType(for: w.type) == xq.activationType && xq.cols == w.cols
                             && xqRow >= 0 && xqRow + n <= xq.capacity,
                             "MatMul.Product: activations \(xq.activationType)×\(xq.cols) rows \(xqRow)+\(n) for \(w.type)×\(w.cols)")
            }
            (self.w, self.x, self.n, self.y, self.ldy, self.xq, self.xqRow) = (w, x, n, y, ldy, xq, xqRow)
        }

        var work: Int { w.rows * w.cols * n }
        /// 8-bit activations and repacked rows: one token, or several where the layout has a kernel for them.
        var usesPacked: Bool { xq != nil && w.packed.map { n == 1 || $0.layout.servesAll } ?? false }
    }

    /// One product, rows split across `pool` when it is worth it (nil: the calling thread alone).
    public static func apply(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                             yStride: Int? = nil, pool: ThreadPool? = nil) {
        run([Product(w, x: x, n: n, y: y, yStride: yStride)], pool: pool)
    }

    /// Several independent products in one parallel region: their rows are cut into chunks (multiples of
    /// 4 rows, the gemm's row block, so a row's result never depends on the chunking) and handed out to the
    /// pool's threads. One region instead of one per product saves a fork/join per product.
    public static func run(_ products: [Product], pool: ThreadPool?) {
        let total = products.reduce(0) { $0 + $1.work }
        if total == 0 { return }
        let threads = pool?.threadCount ?? 1
        guard let pool, threads > 1, total >= minParallelWork else {
            for p in products where p.work > 0 { compute(p, rows: 0 ..< p.w.rows) }
            return
        }
        // About 4 chunks per thread over the whole batch, so uneven products still balance.
        let target = max(1, total / (threads * 4))
        var chunkRows = [Int](), firstItem = [Int](), items = 0
        chunkRows.reserveCapacity(products.count)
        firstItem.reserveCapacity(products.count + 1)
        for p in products {
            let perRow = max(1, p.w.cols * p.n)
            // One token, or repacked rows: chunks of whole 16-row groups, the one-token and repacked kernels' unit (8 or
            // 16 rows; a chunk's last rows off the group go through slower 4-row tiles).
            let align = (p.n == 1 && p.xq != nil) || p.usesPacked ? 16 : 4
            let rows = p.work == 0 ? 0 : min(p.w.rows, max(align, (target / perRow + align - 1) & ~(align - 1)))
            chunkRows.append(rows)
            firstItem.append(items)
            items += rows == 0 ? 0 : (p.w.rows + rows - 1) / rows
        }
        firstItem.append(items)
        products.withUnsafeBufferPointer { ps in
            pool.forEach(items) { item, _ in
                // The product holding this item: products are few (≤ 3 · experts per token), scan.
                var i = 0
                while firstItem[i + 1] <= item { i += 1 }
                let lo = (item - firstItem[i]) * chunkRows[i]
                compute(ps[i], rows: lo ..< min(lo + chunkRows[i], ps[i].w.rows))
            }
        }
    }

    /// Rows per dequantized tile (at most 64; a multiple of 4, the gemm's row block, from 4 rows up).
    /// Few tokens: the tile should stay in L1 (≈16 KiB), as each weight is used only n times once
    /// written. Many tokens: big tiles (≈1 MiB, L2) so the token vectors are streamed fewer times.
    static func tileRows(cols: Int, n: Int) -> Int {
        let targetBytes = n <= 2 ? 16 << 10 : n <= 8 ? 64 << 10 : 1 << 20
        let r = min(64, max(1, targetBytes / max(1, cols * MemoryLayout<Float>.stride)))
        return r >= 4 ? r & ~3 : r
    }

    /// Rows `rows` of one product on the calling thread. With quantized activations, the integer kernels
    /// read the weights in their stored type. Otherwise quantized rows are dequantized a tile at a time
    /// into the thread's scratch and multiplied there, so each weight row is dequantized once whatever n
    /// is. F32 weights are used in place.
    static func compute(_ p: Product, rows: Range<Int>) {
        let w = p.w, cols = w.cols
        if p.usesPacked, let packed = w.packed, let xq = p.xq {
            // Whole groups through the repacked rows (chunks start on multiples of 16); rows after the
            // last whole group, if any, through the row-major kernel. The same bits either way.
            let packedEnd = min(rows.upperBound, packed.packedRows), g = packed.groupRows
            if packedEnd > rows.lowerBound {
                if p.n == 1 { packed.multiply(groups: rows.lowerBound / g ..< packedEnd / g, x: xq.row(p.xqRow), y: p.y) }
                else { packed.multiply(groups: rows.lowerBound / g ..< packedEnd / g, tokens: p.n, x: xq.row(p.xqRow), y: p.y, ldy: p.ldy) }
            }
            if rows.upperBound > packedEnd {
                let lo = max(rows.lowerBound, packedEnd)
                let rc = moe_matmul_q(w.type.rawValue, Int64(rows.upperBound - lo), Int64(p.n), Int64(cols), w.row(lo), w.rowBytes,
                                      xq.row(p.xqRow), p.y + lo, Int64(p.ldy))
                precondition(rc == 0, "MatMul: quantized kernel refused \(w.type) \(w.rows)×\(cols)")
            }
            return
        }
        if let xq = p.xq {
            let rc = moe_matmul_q(w.type.rawValue, Int64(rows.count), Int64(p.n), Int64(cols), w.row(rows.lowerBound),
                                  w.rowBytes, xq.row(p.xqRow), p.y + rows.lowerBound, Int64(p.ldy))
            precondition(rc == 0, "MatMul: quantized kernel refused \(w.type) \(w.rows)×\(cols)")
            return
        }
        if w.type == .f32 {
            let wf = w.row(rows.lowerBound).assumingMemoryBound(to: Float.self)
            moe_gemm_f32(Int64(rows.count), Int64(p.n), Int64(cols), wf, p.x, p.y + rows.lowerBound, Int64(p.ldy))
            return
        }
        let tile = tileRows(cols: cols, n: p.n)
        guard let raw = moe_thread_scratch(0, min(tile, rows.count) * cols * MemoryLayout<Float>.stride) else {
            fatalError("MatMul: out of memory for a \(tile) × \(cols) scratch tile")
        }
        let scratch = raw.assumingMemoryBound(to: Float.self)
        var r = rows.lowerBound
        while r < rows.upperBound {
            let m = min(tile, rows.upperBound - r)
            // Rows are contiguous, so a tile of m rows is one run of m * cols elements.
            moe_dequantize_row(w.type.rawValue, w.row(r), scratch, Int64(m * cols))
            moe_gemm_f32(Int64(m), Int64(p.n), Int64(cols), scratch, p.x, p.y + r, Int64(p.ldy))
            r += m
        }
    }
}
