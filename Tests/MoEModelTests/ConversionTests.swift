import Foundation
import MoEFormats
import MoEModel
import MoEQuantize
import MoEKernels
import Testing
import TestSupport

/// moe-quantize's conversion of a Hugging Face folder into GGUF (metadata from the config, tokenizer from
/// tokenizer.json, per-expert matrices stacked): kept in F32, the GGUF must load as the same model and give
/// the same logits as the folder, for every architecture it converts.
struct ConversionTests {
    @Test("HF folder → F32 GGUF: same config, same logits", arguments: TinyArch.allCases)
    func sameModel(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("conv-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try QuantizeJob(input: fixture.folder, options: QuantizeOptions(rules: .uniform(.f32), threads: 2)).write(to: out)
        let hf = try Model(path: fixture.folder), gguf = try Model(path: out)
        var a = hf.config, b = gguf.config
        #expect(b.architecture == arch.rawValue)
        // Nothing may differ but the rotary layout: GGUF Mixtral's q/k rows are permuted for interleaved pairs.
        #expect(b.ropeStyle == (arch == .mixtral ? .interleaved : .neox))
        a.ropeStyle = b.ropeStyle
        #expect("\(a)" == "\(b)")
        #expect(hf.tokenizer.encode("the other tin") == gguf.tokenizer.encode("the other tin"))
        for prompt in ArchitectureTests.prompts {
            let (x, _) = try ArchitectureTests.lastLogits(hf, prompt)
            let (y, _) = try ArchitectureTests.lastLogits(gguf, prompt)
            // Exact but for Mixtral, whose rotary runs on permuted rows in another order of operations.
            #expect(ArchitectureTests.maxDifference(x, y) <= (arch == .mixtral ? 1e-5 : 0))
        }
    }
}

/// Decode through the repacked Q4_0 rows (`Model(repack:)`) gives the same logits, bit for bit, as the
/// row-major rows: the x8 kernel computes the same integers and float operations.
struct RepackedDecodeTests {
    /// Q4_0 (x8, every CPU); MXFP4 and Q4_K (x16, where the AVX-512 kernels run; elsewhere nothing is repacked).
    @Test(arguments: [TensorType.q4_0, .mxfp4, .q4_K])
    func sameLogits(type: TensorType) throws {
        // The reference model's bf16 file where ../shared has it (hidden size 256: Q4_K's super-blocks fit its
        // rows); otherwise a tiny fixture (hidden size 64), which holds no Q4_K rows.
        let reference = SharedData.root.map { $0 + "/models/tiny-qwen3moe/tiny-qwen3moe-bf16.gguf" }
        let fixture = try TinyFixture(.qwen3_moe)
        let input: String
        if let reference, FileManager.default.fileExists(atPath: reference) { input = reference }
        else if type.blockSize == 256 { return } else { input = fixture.folder }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("\(type)-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try QuantizeJob(input: input, options: QuantizeOptions(rules: .uniform(type), threads: 2)).write(to: out)
        let plain = try Model(path: out, repack: .none), packed = try Model(path: out, repack: .all)
        #expect(plain.layers[0].experts[0].gate.type == type)
        let repacks = RepackedRows.Layout.forType(type) != nil
        #expect((packed.layers[0].experts[0].gate.packed != nil) == repacks && plain.layers[0].experts[0].gate.packed == nil)
        for threads in [1, 2] {
            var outputs: [[Float]] = []
            for m in [plain, packed] {
                let state = InferenceState(config: m.config, contextLength: 64, threads: threads, precision: .q8)
                var logits: [Float] = []
                for t in [17, 256, 42, 299, 3, 101] { logits += Array(try m.forward([t], state: state, logits: .last)) }
                outputs.append(logits)
            }
            #expect(outputs[0].map(\.bitPattern) == outputs[1].map(\.bitPattern), "threads \(threads)")
        }
    }
}
