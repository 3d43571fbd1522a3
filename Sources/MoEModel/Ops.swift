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

    @inline(__always)
    static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// gate[i] = silu(gate[i]) * up[i] for `n` elements.
    @inline(__always)
    static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
        for i in 0 ..< n { gate[i] = silu(gate[i]) * up[i] }
    }
}

/// Rotary position embedding tables, computed as transformers computes them in float32:
/// invFreq[i] = 1 / theta^(2i / headDim), angle = Float(position) * invFreq[i].
struct Rope: Sendable {
    let headDim: Int
    let style: ModelConfigRopeStyle
    let invFreq: [Float]   // [headDim / 2]

    init(headDim: Int, theta: Float, style: ModelConfigRopeStyle) {
        self.headDim = headDim
        self.style = style
        invFreq = (0 ..< headDim / 2).map { i in 1 / powf(theta, Float(2 * i) / Float(headDim)) }
    }

    /// Rotates `heads` vectors of `headDim` at `vec` in place for `position`. `cos`/`sin`: scratch [headDim/2].
    func apply(_ vec: UnsafeMutablePointer<Float>, heads: Int, position: Int,
               cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = headDim / 2
        for i in 0 ..< half {
            let angle = Float(position) * invFreq[i]
            cos[i] = Foundation.cos(angle)
            sin[i] = Foundation.sin(angle)
        }
        for h in 0 ..< heads {
            let v = vec + h * headDim
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
typealias ModelConfigRopeStyle = ModelConfig.RopeStyle
