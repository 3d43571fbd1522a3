import Foundation
import MoEFormats
import Testing
@testable import MoEKernels

/// Quantized tensors from llama-quantize against the bf16 originals they were made from.
@Suite(.enabled(if: sharedDir != nil, "../shared (or $MOE_SHARED) not found: real-model checks skipped"))
struct RealDataTests {
    static func open(_ file: String) throws -> GGUFFile {
        try GGUFFile(path: "\(sharedDir!)/models/tiny-qwen3moe/\(file)")
    }

    static func dequantized(_ v: TensorView) -> [Float] {
        let w = try! WeightMatrix(v)
        var out = [Float](repeating: 0, count: w.rows * w.cols)
        out.withUnsafeMutableBufferPointer { Dequantize.row(type: w.type, src: w.base, dst: $0.baseAddress!, count: w.rows * w.cols) }
        return out
    }

    /// Q8_0: q = round(x / d) with d = amax / 127, stored as f16(d). So |q·f16(d) − x| ≤ d/2 from the
    /// rounding plus |q| ≤ 127 times the f16 rounding of d (≤ 2⁻¹¹ relative, 2⁻²⁵ absolute if subnormal).
    @Test func q8_0MatchesBF16() throws {
        let name = "blk.0.ffn_gate_exps.weight"
        let q = try #require(try Self.open("tiny-qwen3moe-Q8_0.gguf").tensor(name))
        let b = try #require(try Self.open("tiny-qwen3moe-bf16.gguf").tensor(name))
        #expect(q.type == .q8_0 && b.type == .bf16 && q.shape == b.shape)
        let x = Self.dequantized(b), y = Self.dequantized(q)
        var worst = 0.0
        for blk in 0 ..< x.count / 32 {
            let off = blk * 34
            let d = Double(abs(Float(Float16(bitPattern: UInt16(q.bytes[off]) | UInt16(q.bytes[off + 1]) << 8))))
            let tol = d * 0.5 * (1 + 1e-6) + 127 * max(d * 0x1p-11, 0x1p-25)
            for i in blk * 32 ..< blk * 32 + 32 {
                let err = abs(Double(y[i]) - Double(x[i]))
                if err > tol { Issue.record("\(name) element \(i): \(y[i]) vs bf16 \(x[i]), step \(d)"); return }
                if d > 0 { worst = max(worst, err / d) }
            }
        }
        #expect(worst > 0.25, "errors look too small to be Q8_0 rounding (worst \(worst) steps)")
        print("Q8_0 \(name): worst error \(worst) quantization steps")
    }

    /// Q6_K: each 16-element sub-block has step s = f16(d)·scale, and q = clamp(round(x / s), −32, 31);
    /// so |q·s − x| ≤ s/2, except at the clamp ends where x may lie further out (beyond q·s).
    @Test func q6_KMatchesBF16() throws {
        let name = "output.weight"
        let q = try #require(try Self.open("tiny-qwen3moe-Q4_0.gguf").tensor(name))
        let b = try #require(try Self.open("tiny-qwen3moe-bf16.gguf").tensor(name))
        #expect(q.type == .q6_K && b.type == .bf16 && q.shape == b.shape)
        let x = Self.dequantized(b), y = Self.dequantized(q)
        var worst = 0.0, clamped = 0
        for blk in 0 ..< x.count / 256 {
            let base = blk * 210
            let d = Float(Float16(bitPattern: UInt16(q.bytes[base + 208]) | UInt16(q.bytes[base + 209]) << 8))
            for sub in 0 ..< 16 {
                let s = Double(d * Float(Int8(bitPattern: q.bytes[base + 192 + sub])))
                for i in blk * 256 + sub * 16 ..< blk * 256 + sub * 16 + 16 {
                    let err = abs(Double(y[i]) - Double(x[i]))
                    if s == 0 { #expect(y[i] == 0); continue }
                    let level = (Double(y[i]) / s).rounded()
                    if err <= abs(s) * 0.5 * (1 + 1e-6) { worst = max(worst, err / abs(s)); continue }
                    let beyondEnd = (level == 31 && Double(x[i]) / s > 31) || (level == -32 && Double(x[i]) / s < -32)
                    if beyondEnd { clamped += 1; continue }
                    Issue.record("\(name) element \(i): \(y[i]) vs bf16 \(x[i]), step \(s), level \(level)")
                    return
                }
            }
        }
        #expect(worst > 0.25, "errors look too small to be Q6_K rounding (worst \(worst) steps)")
        print("Q6_K \(name): worst in-range error \(worst) steps, \(clamped) clamped elements")
    }

    /// An expert slice of a stacked tensor is that expert's rows.
    @Test func expertSlice() throws {
        let v = try #require(try Self.open("tiny-qwen3moe-Q8_0.gguf").tensor("blk.0.ffn_gate_exps.weight"))
        let all = try WeightMatrix(v)
        let e5 = try WeightMatrix(v, expert: 5)
        #expect(e5.rows == v.shape[1] && e5.cols == v.shape[2] && all.rows == v.shape[0] * v.shape[1])
        #expect(e5.row(0) == all.row(5 * v.shape[1]))
        #expect(throws: KernelError.self) { try WeightMatrix(v, expert: v.shape[0]) }
    }
}
