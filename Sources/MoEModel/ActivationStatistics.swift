import CKernels
/// Per-column mean squares of the inputs of every matrix product in the forward pass, gathered over a
/// calibration text: what importance-aware quantizers (llama.cpp's imatrix) weight the rounding error by.
/// An error in column j of a weight matrix costs, on average, E[x_j²] times its square in the product.
///
/// Set `InferenceState.activationStatistics` to collect; the forward pass reports each product's input rows
/// outside its parallel regions, so no locking is needed.
public final class ActivationStatistics: @unchecked Sendable {
    /// Where a product's input comes from; several products can share one (q, k and v; gate and up).
    public enum Site: Hashable, Sendable {
        /// The normed hidden state entering attention: input of q, k, v.
        case attentionInput(layer: Int)
        /// Attention's output: input of the output projection.
        case attentionOutput(layer: Int)
        /// The normed hidden state of the tokens routed to `expert`: input of its gate and up.
        case expertInput(layer: Int, expert: Int)
        /// silu(gate) ⊙ up of those tokens: input of the expert's down.
        case expertDown(layer: Int, expert: Int)
        /// The normed hidden state entering the FFN: input of the dense FFN, the shared expert and the router.
        case ffnInput(layer: Int)
        /// The dense FFN's or the shared expert's down input.
        case denseDown(layer: Int)
        /// The final normed hidden state: input of the output head.
        case outputInput
    }

    public struct Accumulator: Sendable {
        /// Σ x² per column, in double so that long texts do not lose the small columns.
        public var sumSquares: [Double]
        /// Rows added.
        public var count: Int
        /// Σ x xᵀ, upper triangle, row-major [width, width] (only when collecting covariances).
        public var products: [Double]?
    }

    public private(set) var sites: [Site: Accumulator] = [:]
    /// Tokens seen by the forward pass while collecting.
    public internal(set) var tokens = 0
    /// Also collect the full second-moment matrix E[x xᵀ] of sites at most this wide (GPTQ needs it);
    /// 0 collects diagonals only. Memory: width² × 8 bytes per site.
    public let covarianceWidth: Int

    public init(covarianceWidth: Int = 0) { self.covarianceWidth = covarianceWidth }

    /// Adds `n` rows of `width` floats, `stride` floats apart.
    func add(_ site: Site, rows x: UnsafePointer<Float>, n: Int, width: Int, stride: Int? = nil) {
        guard n > 0 else { return }
        let step = stride ?? width
        var acc = sites[site] ?? empty(width)
        for r in 0 ..< n { accumulate(&acc, x + r * step, width) }
        acc.count += n
        sites[site] = acc
    }

    /// Adds the rows `indices` of `x` (rows of `width` floats).
    func add<C: Collection>(_ site: Site, rows x: UnsafePointer<Float>, indices: C, width: Int) where C.Element == Int {
        guard !indices.isEmpty else { return }
        var acc = sites[site] ?? empty(width)
        for i in indices { accumulate(&acc, x + i * width, width) }
        acc.count += indices.count
        sites[site] = acc
    }

    private func empty(_ width: Int) -> Accumulator {
        Accumulator(sumSquares: [Double](repeating: 0, count: width), count: 0,
                    products: width <= covarianceWidth ? [Double](repeating: 0, count: width * width) : nil)
    }

    private func accumulate(_ acc: inout Accumulator, _ row: UnsafePointer<Float>, _ width: Int) {
        acc.sumSquares.withUnsafeMutableBufferPointer { s in
            for j in 0 ..< width { s[j] += Double(row[j] * row[j]) }
        }
        if acc.products != nil {
            acc.products!.withUnsafeMutableBufferPointer { moe_accumulate_xxt($0.baseAddress!, row, Int64(width)) }
        }
    }

    /// E[x xᵀ] at `site` as a full symmetric [width, width] matrix, or nil (not collected, or no rows).
    public func secondMoments(_ site: Site) -> [Double]? {
        guard let a = sites[site], a.count > 0, let p = a.products else { return nil }
        let n = a.sumSquares.count, scale = 1 / Double(a.count)
        var out = [Double](repeating: 0, count: n * n)
        for i in 0 ..< n {
            for j in i ..< n {
                let v = p[i * n + j] * scale
                out[i * n + j] = v
                out[j * n + i] = v
            }
        }
        return out
    }

    /// The mean square per column at `site`, or nil if no row reached it (an expert no token chose).
    public func meanSquares(_ site: Site) -> [Float]? {
        guard let a = sites[site], a.count > 0 else { return nil }
        return a.sumSquares.map { Float($0 / Double(a.count)) }
    }

    /// Rows seen at `site`.
    public func count(_ site: Site) -> Int { sites[site]?.count ?? 0 }
}
