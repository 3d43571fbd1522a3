import Foundation
import MoEFormats
import MoESynth
import Testing
import TestSupport

/// The seed alone decides the bytes: not the thread count, not the slab size, not the run.
@Suite(.enabled(if: Shared.tiny != nil, Shared.skipMessage))
struct DeterminismTests {
    @Test("same seed twice → identical bytes; other --threads and slab sizes → identical bytes; other seed → different",
          arguments: [(TensorType.q4_0, Synthesizer.Format.gguf), (.q8_0, .gguf), (.bf16, .safetensors)])
    func sameBytes(type: TensorType, format: Synthesizer.Format) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let a = try contents(try synthesize(type: type, format: format, to: dir.file("a"), threads: 1))
        let b = try contents(try synthesize(type: type, format: format, to: dir.file("b"), threads: 1))
        // Small slabs, so that rows are split between 3 threads in many pieces.
        let c = try contents(try synthesize(type: type, format: format, to: dir.file("c"), threads: 3, slabElements: 1000))
        let d = try contents(try synthesize(type: type, format: format, to: dir.file("d"), seed: 2, threads: 2))
        #expect(a == b)
        #expect(a == c)
        #expect(a != d)
        #expect(Set(a.keys) == Set(d.keys))
    }
}

/// The arithmetic of the shapes and of the random numbers, without writing files.
struct PlanTests {
    @Test("preset sizes: olmoe-like ≈ 6.6 B parameters, ≈ 3.5 GiB in Q4_0; qwen3-30b-a3b-like ≈ 17 GB in Q4_0")
    func presetSizes() {
        let olmoe = SynthPlan(shape: .olmoeLike, vocab: 4096)
        #expect(abs(Double(olmoe.parameterCount) / 1e9 - 6.63) < 0.01)
        let q4 = FileTensor.gguf(olmoe, type: .q4_0).reduce(0) { $0 + $1.byteCount }
        #expect(abs(Double(q4) / Double(1 << 30) - 3.5) < 0.05)
        let qwen = SynthPlan(shape: .qwen3_30bA3bLike, vocab: 4096)
        #expect(abs(Double(qwen.parameterCount) / 1e9 - 29.9) < 0.1)
        let q4Qwen = FileTensor.gguf(qwen, type: .q4_0).reduce(0) { $0 + $1.byteCount }
        #expect(abs(Double(q4Qwen) / 1e9 - 16.8) < 0.2)
        // HF: one tensor per expert.
        #expect(FileTensor.huggingFace(olmoe, type: .bf16).count == 3 + 16 * (9 + 3 * 64))
    }

    @Test("weights: N(mean, std²) by moments, bf16-exact, the same for any row split")
    func normalStatistics() {
        let spec = SynthPlan(shape: .tiny, vocab: 4096).weights.first { $0.name == "blk.0.attn_q.weight" }!
        let n = spec.rowLength
        var all: [Float] = []
        var row = [Float](repeating: 0, count: n)
        for r in 0 ..< 2000 {
            row.withUnsafeMutableBufferPointer { spec.fillRow(r, seed: 9, into: $0.baseAddress!) }
            all += row
        }
        #expect(all.allSatisfy { $0.bitPattern & 0xFFFF == 0 })
        let z = all.map { Double($0) / Double(spec.std) }
        let mean = z.reduce(0, +) / Double(z.count)
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(z.count)
        let kurtosis = z.map { pow($0 - mean, 4) }.reduce(0, +) / Double(z.count) / (variance * variance)
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.01 && abs(kurtosis - 3) < 0.05,
                "mean \(mean), variance \(variance), kurtosis \(kurtosis)")
        // A row's values do not depend on its neighbours: row 5 alone equals row 5 of the run above.
        row.withUnsafeMutableBufferPointer { spec.fillRow(5, seed: 9, into: $0.baseAddress!) }
        #expect(Array(all[5 * n ..< 6 * n]) == row)
    }

    @Test("gguf-py's size label rounding")
    func sizeLabel() {
        #expect(GGUFModelMetadata.roundedNotation(4_330_752) == "4.3M")
        #expect(GGUFModelMetadata.roundedNotation(287_300_000) == "287M")
        #expect(GGUFModelMetadata.roundedNotation(1_234_000_000) == "1.2B")
        #expect(GGUFModelMetadata.roundedNotation(950_000) == "950K")
    }
}
