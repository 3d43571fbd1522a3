import Foundation

/// Small float32 operations of the forward pass, written plainly; the heavy matmuls are in MoEKernels.
enum Ops {
    /// out = x / sqrt(mean(x²) + eps) ⊙ weight, over `n` elements (as HF's RMSNorm, in float32).
    @inline(__always)
    static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, n: Int, eps: Float) {
        var ss: Float = 0
        for i in 0 ..< n { ss += x[i] * x[i] }
        let scale = 1 / (ss / Float(n) + eps).squareRoot()
        for i in 0 ..< n { out[i] = weight[i] * (x[i] * scale) }
    }

    /// In-place softmax over `n` values.
    @inline(__always)
    static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int) {
        var m = -Float.infinity
        for i in 0 ..< n where x[i] > m { m = x[i] }
        var sum: Float = 0
        for i in 0 ..< n { x[i] = expf(x[i] - m); sum += x[i] }
        let inv = 1 / sum
        for i in 0 ..< n { x[i] *= inv }
    }

    /// Softmax whose denominator also has exp(`sink`) (gpt-oss's attention sink: a logit with no value).
    static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int, sink: Float) {
        var m = sink
        for i in 0 ..< n where x[i] > m { m = x[i] }
        var sum: Float = 0
        for i in 0 ..< n { x[i] = expf(x[i] - m); sum += x[i] }
        sum += expf(sink - m)
        let inv = 1 / sum
        for i in 0 ..< n { x[i] *= inv }
    }

    @inline(__always)
    static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// gate[i] = activation(gate[i], up[i]) for `n` elements.
    static func activate(_ a: FFNActivation, _ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
        switch a {
        case .swiglu: swiglu(gate, up, n: n)
        case let .clampedSwiGLU(alpha, limit):
            for i in 0 ..< n {
                let g = min(gate[i], limit), u = min(max(up[i], -limit), limit)
                gate[i] = (u + 1) * (g / (1 + expf(-alpha * g)))
            }
        }
    }

    /// gate[i] = silu(gate[i]) * up[i] for `n` elements.
    @inline(__always)
    static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
        for i in 0 ..< n { gate[i] = silu(gate[i]) * up[i] }
    }
}

/// Rotary position embedding, computed as transformers computes it in float32:
/// invFreq[i] = 1 / theta^(2i / dim) (or YaRN's blend), angle = Float(position) * invFreq[i], and cos/sin
/// multiplied by YaRN's attention factor. It rotates the first `dim` values of each head (all of it, or
/// GLM's partial rotary, or MLA's rotary part), heads `stride` floats apart.
struct Rope: Sendable {
    let dim: Int
    let style: ModelConfig.RopeStyle
    let invFreq: [Float]   // [dim / 2]
    let attentionFactor: Float

    init(dim: Int, theta: Float, style: ModelConfig.RopeStyle, yarn: YaRN? = nil) {
        self.dim = dim
        self.style = style
        if let yarn {
            invFreq = yarn.inverseFrequencies(dim: dim, theta: theta)
            attentionFactor = Float(yarn.attentionFactor)
        } else {
            invFreq = (0 ..< dim / 2).map { i in 1 / powf(theta, Float(2 * i) / Float(dim)) }
            attentionFactor = 1
        }
    }

    init(config c: ModelConfig) {
        self.init(dim: c.rotaryDim, theta: c.ropeTheta, style: c.ropeStyle, yarn: c.yarn)
    }

    /// Fills `cos`/`sin` (scratch [dim/2]) for `position`.
    func angles(position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        for i in 0 ..< dim / 2 {
            let angle = Float(position) * invFreq[i]
            cos[i] = Foundation.cos(angle) * attentionFactor
            sin[i] = Foundation.sin(angle) * attentionFactor
        }
    }

    /// Rotates the first `dim` values of `heads` vectors `stride` apart at `vec`, in place, with tables from `angles`.
    func rotate(_ vec: UnsafeMutablePointer<Float>, heads: Int, stride: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = dim / 2
        for h in 0 ..< heads {
            let v = vec + h * stride
            switch style {
            case .neox:
                for i in 0 ..< half {
                    let a = v[i], b = v[i + half]
                    v[i] = a * cos[i] - b * sin[i]
                    v[i + half] = b * cos[i] + a * sin[i]
                }
            case .interleaved:
                for i in 0 ..< half {
                    let a = v[2 * i], b = v[2 * i + 1]
                    v[2 * i] = a * cos[i] - b * sin[i]
                    v[2 * i + 1] = b * cos[i] + a * sin[i]
                }
            }
        }
    }
}

import MoEFormats
