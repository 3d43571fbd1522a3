import Foundation
import MoEFormats
import MoEModel
import MoEQuantize
import Testing

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
