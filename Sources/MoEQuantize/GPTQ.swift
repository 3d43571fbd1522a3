import CKernels
import Foundation
import MoEFormats
import MoEModel

/// GPTQ's per-matrix preparation: from a calibration site's second moments H = E[x xᵀ] to the upper
/// Cholesky factor U of H⁻¹ that `moe_gptq_row` pushes rounding errors with (see `moe_gptq.h`).
public struct GPTQFactor: Sendable {
    /// [cols, cols], row-major, upper triangle used.
    public let u: [Float]
    /// H's diagonal (before damping): the block search's column weights.
    public let diagonal: [Float]
    public let cols: Int

    /// Relative damping added to H's diagonal (GPTQ's default, 1% of its mean): keeps H invertible when the
    /// calibration did not span every direction, and limits how far errors are pushed.
    public static let damping = 0.01

    /// nil when H cannot be factored even with 100× the damping (a degenerate calibration).
    public init?(secondMoments h: [Double], cols n: Int) {
        var a = h
        let diag = (0 ..< n).map { h[$0 * n + $0] }
        let mean = diag.reduce(0, +) / Double(n)
        guard mean > 0 else { return nil }
        for i in 0 ..< n where a[i * n + i] <= 0 { a[i * n + i] = mean } // a column no input reached
        var damp = Self.damping * mean
        var factor: [Double]?
        for _ in 0 ..< 3 {
            var b = a
            for i in 0 ..< n { b[i * n + i] += damp }
            if let l = Self.cholesky(b, n), let inv = Self.inverse(fromCholesky: l, n), let l2 = Self.cholesky(inv, n) {
                factor = l2
                break
            }
            damp *= 10
        }
        guard let l = factor else { return nil }
        // U = Lᵀ: H⁻¹ = L Lᵀ = Uᵀ U.
        var u = [Float](repeating: 0, count: n * n)
        for i in 0 ..< n { for j in i ..< n { u[i * n + j] = Float(l[j * n + i]) } }
        self.u = u
        diagonal = diag.map { Float($0) }
        cols = n
    }

    /// Lower Cholesky factor of a symmetric positive-definite matrix, or nil.
    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0 ..< n {
            var s = a[j * n + j]
            for k in 0 ..< j { s -= l[j * n + k] * l[j * n + k] }
            guard s > 0, s.isFinite else { return nil }
            let d = s.squareRoot()
            l[j * n + j] = d
            for i in j + 1 ..< n {
                var t = a[i * n + j]
                for k in 0 ..< j { t -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = t / d
            }
        }
        return l
    }

    /// A⁻¹ from A's lower Cholesky factor L: A⁻¹ = L⁻ᵀ L⁻¹.
    static func inverse(fromCholesky l: [Double], _ n: Int) -> [Double]? {
        // Y = L⁻¹ (lower triangular), by forward substitution column by column.
        var y = [Double](repeating: 0, count: n * n)
        for c in 0 ..< n {
            for i in c ..< n {
                var s = i == c ? 1.0 : 0.0
                for k in c ..< i { s -= l[i * n + k] * y[k * n + c] }
                y[i * n + c] = s / l[i * n + i]
            }
        }
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0 ..< n {
            for j in i ..< n {
                var s = 0.0
                for k in j ..< n { s += y[k * n + i] * y[k * n + j] }
                inv[i * n + j] = s
                inv[j * n + i] = s
            }
        }
        return inv.allSatisfy(\.isFinite) ? inv : nil
    }
}

extension Calibration {
    /// The site whose inputs multiply tensor `name` (expert `expert` of a stacked tensor).
    func site(tensor name: String, expert: Int?) -> ActivationStatistics.Site? {
        if name == TensorName.output { return .outputInput }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let l = Int(parts[1]) else { return nil }
        switch parts[2] {
        case "attn_q", "attn_k", "attn_v", "attn_qkv": return .attentionInput(layer: l)
        case "attn_output": return .attentionOutput(layer: l)
        case "ffn_gate_exps", "ffn_up_exps": return expert.map { .expertInput(layer: l, expert: $0) }
        case "ffn_down_exps": return expert.map { .expertDown(layer: l, expert: $0) }
        case "ffn_gate", "ffn_up", "ffn_gate_shexp", "ffn_up_shexp", "ffn_gate_inp", "ffn_gate_inp_shexp": return .ffnInput(layer: l)
        case "ffn_down", "ffn_down_shexp": return .denseDown(layer: l)
        default: return nil
        }
    }
}
