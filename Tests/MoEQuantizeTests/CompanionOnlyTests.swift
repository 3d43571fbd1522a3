import Foundation
import MoEFormats
import MoEKernels
@testable import MoEQuantize
import Testing
import TestSupport

/// `moe-quantize MODEL COMPANION --companion-only TYPE`: a companion made from the quantized model file itself. Its
/// routed experts are the model's dequantized values requantized to TYPE (ggml's rounding here, so the bytes are
/// checked against Quantize.row), everything else Q8_0, and the engine takes it as the model's companion.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct CompanionOnlyTests {
    static var model: String { SharedData.tiny! + "/tiny-qwen3moe-Q8_0.gguf" }

    @Test func expertsAreTheModelsValuesRequantized() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var rules = TypeRules.uniform(.q8_0)
        rules.expertsForced = .q4_0
        var options = QuantizeOptions(rules: rules, threads: 2)
        options.rounding = .reference
        options.acceptQuantizedInput = true
        let out = dir.file("companion.gguf")
        try QuantizeJob(input: Self.model, options: options).write(to: out)
        let theirs = try GGUFFile(path: Self.model), ours = try GGUFFile(path: out)
        var experts = 0
        for t in theirs.tensors where t.name.contains("_exps") {
            let o = try #require(ours.tensor(t.name))
            #expect(o.type == .q4_0 && o.shape == t.shape, "\(t.name): \(o.type) \(o.shape)")
            let cols = t.shape.last!, rows = t.shape.dropLast().reduce(1, *)
            let inRow = t.type.byteCount(elements: cols)!, outRow = TensorType.q4_0.byteCount(elements: cols)!
            for r in stride(from: 0, to: rows, by: max(1, rows / 7)) {
                let values = Dequantize.row(type: t.type, src: t.bytes.baseAddress! + r * inRow, count: cols)
                let expected = Quantize.row(type: .q4_0, values)
                #expect(Array(UnsafeRawBufferPointer(rebasing: o.bytes[(r * outRow) ..< ((r + 1) * outRow)])) == expected, "\(t.name) row \(r)")
            }
            experts += 1
        }
        #expect(experts > 0)
    }

    /// The command: the companion's expert type in its metadata; role options refused in one line.
    @Test func command() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("c.gguf")
        let ok = try ToolBinary("moe-quantize").run([Self.model, out, "--companion-only", "q4_0", "--rounding", "reference"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(try GGUFFile(path: out).metadata[CompanionKeys.expertType]?.string == "q4_0")
        let bad = try ToolBinary("moe-quantize").run([Self.model, dir.file("d.gguf"), "--companion-only", "q2_k", "--type", "q4_0"])
        #expect(bad.status != 0 && bad.stderr.contains("--companion-only sets every type itself"), "\(bad.stderr)")
    }

    /// Without the option a quantized input is still refused (requantizing compounds errors).
    @Test func onlyTheCompanionModeReadsQuantizedInput() throws {
        var options = QuantizeOptions(rules: .uniform(.q4_0), threads: 2)
        #expect(throws: (any Error).self) { try QuantizeJob(input: Self.model, options: options) }
        options.acceptQuantizedInput = true
        #expect(try QuantizeJob(input: Self.model, options: options).plan.contains { $0.name.contains("_exps") })
    }
}
