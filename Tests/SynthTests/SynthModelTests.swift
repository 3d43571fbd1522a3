import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import MoEStore
import MoESynth
import Testing
import TestSupport

/// Synthetic models load in the engine like real ones, in both file forms, and carry llama.cpp's layout.
@Suite(.enabled(if: Shared.tiny != nil, Shared.skipMessage))
struct SynthModelTests {
    static let prompt = "In the beginning God created"

    static func greedy(_ path: String, tokens: Int = 8) throws -> [Int] {
        let model = try Model(path: path)
        return try model.generate(prompt: prompt, options: GenerationOptions(maxTokens: tokens, ignoreEOS: true)).tokenIds
    }

    @Test("tiny f32: the GGUF file and the safetensors folder give the same greedy tokens")
    func ggufAndSafetensorsAgree() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let gguf = try synthesize(type: .f32, format: .gguf, to: dir.file("tiny.gguf"))
        let hf = try synthesize(type: .f32, format: .safetensors, to: dir.file("tiny-hf"))
        let a = try Self.greedy(gguf), b = try Self.greedy(hf)
        #expect(a.count == 8)
        #expect(a == b, "GGUF \(a) vs safetensors \(b)")
        // Same numbers, hence bit-identical logits.
        let m1 = try Model(path: gguf), m2 = try Model(path: hf)
        let ids = m1.tokenizer.encodePrompt(Self.prompt)
        // The logits live in the state: keep it alive while they are copied.
        func logits(_ m: Model) throws -> [Float] {
            let state = InferenceState(config: m.config, contextLength: 64)
            return try withExtendedLifetime(state) { Array(try m.forward(ids, state: state, logits: .last)) }
        }
        let l1 = try logits(m1), l2 = try logits(m2)
        let diff = zip(l1, l2).map { abs($0 - $1) }.max() ?? .infinity
        #expect(diff == 0, "max |logit difference| \(diff)")
        #expect(m1.config == m2.config)
    }

    @Test("bf16: every tensor of the GGUF file equals the safetensors folder's (F32 norms = widened bf16)")
    func bf16SameNumbers() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let g = try WeightStore(path: try synthesize(type: .bf16, format: .gguf, to: dir.file("m.gguf")))
        let h = try WeightStore(path: try synthesize(type: .bf16, format: .safetensors, to: dir.file("m-hf"), maxShardBytes: 300_000))
        guard case let .safetensors(checkpoint) = h.source else { Issue.record("not a folder"); return }
        #expect(checkpoint.shards.count > 1, "maxShardBytes should have split the folder")
        let plan = SynthPlan(shape: .tiny, vocab: Shared.vocab.vocabSize)
        func floats(_ w: WeightMatrix) -> [Float] {
            Dequantize.row(type: w.type, src: w.base, count: w.rows * w.cols)
        }
        for spec in plan.weights {
            if let layer = spec.layer, let p = spec.projection {
                for e in 0 ..< spec.shape[0] {
                    #expect(floats(try g.expertMatrix(layer: layer, expert: e, p)) == floats(try h.expertMatrix(layer: layer, expert: e, p)),
                            "\(spec.name) expert \(e)")
                }
            } else {
                let (rows, cols) = (spec.rowCount, spec.rowLength)
                #expect(floats(try g.matrix(spec.name, rows: rows, cols: cols)) == floats(try h.matrix(spec.name, rows: rows, cols: cols)),
                        "\(spec.name)")
            }
        }
    }

    @Test("every stored type loads and generates", arguments: [TensorType.q4_0, .q4_1, .q8_0, .f16, .bf16])
    func everyType(type: TensorType) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let tokens = try Self.greedy(try synthesize(type: type, format: .gguf, to: dir.file("t.gguf")), tokens: 4)
        #expect(tokens.count == 4)
        if type == .f16 || type == .bf16 {
            #expect(tokens == (try Self.greedy(try synthesize(type: type, format: .safetensors, to: dir.file("t-hf")), tokens: 4)))
        }
    }

    @Test("metadata: the reference GGUF's keys, in its order; for its shape, its very values")
    func metadataLikeConverter() throws {
        let reference = try GGUFFile(path: Shared.tiny! + "/tiny-qwen3moe-bf16.gguf")
        let dir = try TempDir()
        defer { dir.cleanup() }
        let ours = try GGUFFile(path: try synthesize(type: .q4_0, format: .gguf, to: dir.file("t.gguf")))
        #expect(ours.metadataKeys == reference.metadataKeys)
        for key in reference.metadataKeys where key.hasPrefix("tokenizer.") {
            #expect(ours.metadata[key] == reference.metadata[key], "\(key)")
        }
        // The reference model's own shape: every value as llama.cpp's converter wrote it (but the name).
        let refShape = SynthShape(layers: 8, hidden: 256, experts: 32, topK: 4, expertFFN: 96, heads: 4, kvHeads: 2, headDim: 64,
                                  contextLength: 2048, ropeTheta: 10_000, rmsNormEps: 1e-6)
        let synth = try Synthesizer(shape: refShape, type: .bf16, format: .gguf, vocab: Shared.vocab, seed: 1, threads: 1)
        let metadata = synth.ggufMetadata()
        #expect(metadata.map(\.0) == reference.metadataKeys)
        for (key, value) in metadata where key != "general.name" {
            #expect(value == reference.metadata[key], "\(key): \(value) vs \(String(describing: reference.metadata[key]))")
        }
        #expect(synth.sizeLabel == "32x4.3M")
    }

    @Test("tensors: llama.cpp's names and ranks; norms and routers F32, output Q8_0 for Q4_0")
    func tensorLayout() throws {
        let reference = try GGUFFile(path: Shared.tiny! + "/tiny-qwen3moe-Q4_0.gguf")
        let dir = try TempDir()
        defer { dir.cleanup() }
        let ours = try GGUFFile(path: try synthesize(type: .q4_0, format: .gguf, to: dir.file("t.gguf")))
        let inTiny = { (name: String) in !name.hasPrefix("blk.") || name.hasPrefix("blk.0.") || name.hasPrefix("blk.1.") }
        let refNames = reference.tensors.map(\.name).filter(inTiny)
        #expect(Set(ours.tensors.map(\.name)) == Set(refNames))
        for t in ours.tensors {
            let r = try #require(reference.tensor(t.name))
            #expect(t.shape.count == r.shape.count, "\(t.name) rank")
            #expect(t.type == (t.name == "output.weight" ? .q8_0 : r.type), "\(t.name): \(t.type) vs reference \(r.type)")
        }
        let exps = try #require(ours.tensor("blk.1.ffn_down_exps.weight"))
        #expect(exps.shape == [8, 64, 32])
    }

    @Test("routing spreads over the experts: no expert above 3× its fair share over 200 random tokens")
    func routingSpread() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let small = SynthShape(layers: 4, hidden: 256, experts: 32, topK: 4, expertFFN: 64, heads: 4, kvHeads: 2, headDim: 64)
        for (shape, type) in [(SynthShape.tiny, TensorType.f32), (small, .q4_0)] {
            let path = try synthesize(shape, type: type, format: .gguf, to: dir.file("r-\(shape.experts).gguf"))
            let spread = try RoutingSpread.measure(try Model(path: path), tokens: 200, seed: 3)
            print(spread.summary)
            #expect(spread.maxRatio < 3, "\(spread.summary)")
            #expect(spread.minExpertsUsed == shape.experts, "\(spread.summary)")
        }
    }
}

/// The same routing check on a big generated model: `MOE_SYNTH_CHECK=/path/model.gguf swift test --filter bigModel`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["MOE_SYNTH_CHECK"] != nil, "set MOE_SYNTH_CHECK to a model to check"))
struct BigModelRoutingTests {
    @Test("bigModel: no expert above 3× its fair share over 200 random tokens")
    func bigModel() throws {
        let path = ProcessInfo.processInfo.environment["MOE_SYNTH_CHECK"]!
        let spread = try RoutingSpread.measure(try Model(path: path), tokens: 200, seed: 3)
        print("\(path): \(spread.summary)")
        print("per layer, busiest / fair: " + spread.counts.map { String(format: "%.2f", Double($0.max()!) / spread.fairShare) }.joined(separator: " "))
        #expect(spread.maxRatio < 3, "\(spread.summary)")
    }
}
