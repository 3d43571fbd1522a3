import Foundation
import MoEFormats
import MoEModel
import MoEQuantize
import Testing

/// moe-quantize's conversion of a Hugging Face folder into GGUF (metadata from the config, tokenizer from
/// tokenizer.json, per-expert matrices stacked): kept in F32, the GGUF must load as the same model and give
/// the same logits as the folder, for every architecture it converts.
struct ConversionTests {
    @Test("HF folder → F32 GGUF: same config, same logits", arguments: [TinyArch.qwen2_moe, .olmoe, .qwen3_moe])
    func sameModel(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("conv-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try QuantizeJob(input: fixture.folder, options: QuantizeOptions(rules: .uniform(.f32), threads: 2)).write(to: out)
        let hf = try Model(path: fixture.folder), gguf = try Model(path: out)
        var a = hf.config, b = gguf.config
        #expect(b.architecture == arch.rawValue)
        // The GGUF names the context length and ids it was given; nothing else may differ.
        a.maxPositions = 0; b.maxPositions = 0
        #expect("\(a)" == "\(b)")
        #expect(hf.tokenizer.encode("the other tin") == gguf.tokenizer.encode("the other tin"))
        for prompt in ArchitectureTests.prompts {
            let (x, _) = try ArchitectureTests.lastLogits(hf, prompt)
            let (y, _) = try ArchitectureTests.lastLogits(gguf, prompt)
            #expect(ArchitectureTests.maxDifference(x, y) == 0)
        }
    }

    @Test func mixtralFromSafetensorsIsRefused() throws {
        let fixture = try TinyFixture(.mixtral)
        #expect {
            try QuantizeJob(input: fixture.folder, options: QuantizeOptions(rules: .uniform(.f32), threads: 1))
        } throws: { String(describing: $0).contains("convert_hf_to_gguf.py") }
    }
}
