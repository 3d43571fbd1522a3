import CKernels
import Foundation
import MoEFormats
@testable import MoEKernels

/// SplitMix64: small, seeded, reproducible.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The dequantizable types the kernels support.
let supportedTypes: [TensorType] = TensorType.allCases.filter(\.isSupported)

/// Byte offsets of the f16 scale fields inside one block (ggml layouts).
func halfFieldOffsets(_ t: TensorType) -> [Int] {
    switch t {
    case .q8_0, .q4_0: return [0]
    case .q4_1, .q4_K, .q5_K: return [0, 2]
    case .q6_K: return [t.blockBytes - 2]
    case .q2_K: return [80, 82]
    case .q3_K: return [t.blockBytes - 2]
    case .iq4_xs: return [0]
    case .q5_0, .iq4_nl: return [0]
    case .q5_1: return [0, 2]
    default: return []
    }
}

/// `blocks` random blocks of `type`: random bytes, with f16 scales that are finite, of either sign,
/// magnitude 2⁻¹⁴ … 4 (every fifth one subnormal). F16/BF16/F32 get raw random bits (NaNs included).
func randomBlocks(_ type: TensorType, blocks: Int, rng: inout SeededRNG) -> [UInt8] {
    var bytes = (0 ..< blocks * type.blockBytes).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
    for b in 0 ..< blocks {
        for off in halfFieldOffsets(type) {
            var h: Float16 = b % 5 == 0 ? Float16(bitPattern: UInt16.random(in: 1 ... 0x3FF, using: &rng))
                                        : Float16(Float.random(in: -14 ... 2, using: &rng).exp2)
            if Bool.random(using: &rng) { h = -h }
            bytes[b * type.blockBytes + off] = UInt8(h.bitPattern & 0xFF)
            bytes[b * type.blockBytes + off + 1] = UInt8(h.bitPattern >> 8)
        }
        // MXFP4's E8M0 exponent: scales 2⁻³⁰ … 2⁴ (halved: e − 128), every fifth one of the float
        // subnormal scales (e = 0, 1); never 0xFF, whose values overflow (see quant32.h).
        if type == .mxfp4 {
            bytes[b * type.blockBytes] = b % 5 == 0 ? UInt8.random(in: 0 ... 1, using: &rng) : UInt8.random(in: 98 ... 132, using: &rng)
        }
    }
    return bytes
}

extension Float {
    var exp2: Float { Foundation.exp2(self) }
}

/// Dequantizes a whole buffer of `count` elements with the generic code.
func dequantGeneric(_ type: TensorType, _ bytes: [UInt8], count: Int) -> [Float] {
    var out = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { Dequantize.rowGeneric(type: type, src: src.baseAddress!, dst: $0.baseAddress!, count: count) }
    }
    return out
}

/// Y[n][m] = Σ_k W[m][k] · X[n][k] in double precision, plus Σ_k |W X| for error bounds.
func naiveGemm(M: Int, N: Int, K: Int, W: [Float], X: [Float]) -> (y: [Double], absSum: [Double]) {
    var y = [Double](repeating: 0, count: M * N), a = y
    for n in 0 ..< N {
        for m in 0 ..< M {
            var s = 0.0, t = 0.0
            for k in 0 ..< K {
                let p = Double(W[m * K + k]) * Double(X[n * K + k])
                s += p
                t += abs(p)
            }
            y[n * M + m] = s
            a[n * M + m] = t
        }
    }
    return (y, a)
}

/// `<repo root>/../shared`, or $MOE_SHARED; nil when absent.
let sharedDir: String? = {
    if let env = ProcessInfo.processInfo.environment["MOE_SHARED"] {
        return FileManager.default.fileExists(atPath: env) ? env : nil
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let dir = root.deletingLastPathComponent().appendingPathComponent("shared").path
    return FileManager.default.fileExists(atPath: dir) ? dir : nil
}()
