import Foundation
import MoEFormats
import MoEModel
import Testing

/// Every architecture loads from a Hugging Face folder and from a llama.cpp-style GGUF, and both agree with
/// each other and with an independent reference forward pass.
struct ArchitectureTests {
    static let prompts: [[Int]] = [
        [42],
        [17, 256, 42, 299, 3, 101],
        (0 ..< 23).map { ($0 * 37 + 11) % 300 },
        [299, 299, 5, 5, 5, 5, 260, 1],
    ]

    static func lastLogits(_ model: Model, _ tokens: [Int], routing: Bool = false) throws -> ([Float], RoutingLog?) {
        let state = InferenceState(config: model.config, contextLength: 64)
        if routing { state.routingLog = RoutingLog(layerCount: model.config.layerCount) }
        let logits = Array(try model.forward(tokens, state: state, logits: .last))
        return (logits, state.routingLog)
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test("HF folder and GGUF give the same description and logits within 1e-4", arguments: TinyArch.allCases)
    func bothFormsAgree(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        let hf = try Model(path: fixture.folder)
        let gguf = try Model(path: fixture.gguf)
        let s = fixture.checkpoint.spec

        for c in [hf.config, gguf.config] {
            #expect(c.architecture == arch.rawValue)
            let shape: [Int] = [c.vocabSize, c.hiddenSize, c.layerCount, c.headCount, c.kvHeadCount, c.headDim]
            #expect(shape == [s.vocab, s.hidden, s.layers, s.heads, s.kvHeads, s.headDim])
            let moe: [Int] = [c.expertCount, c.expertsPerToken, c.expertFFN, c.sharedExpertFFN]
            #expect(moe == [s.experts, s.topK, s.expertFFN, s.sharedFFN])
            #expect(c.denseLayers == s.denseLayers)
            #expect(c.normTopKProb == s.normTopK)
            #expect(c.attentionBias == s.qkvBias)
            #expect(c.tieWordEmbeddings == s.tied)
            #expect(c.rmsNormEps == Float(s.eps) && c.ropeTheta == Float(s.ropeTheta))
            #expect(c.qkNorm == (s.qkNorm == .none ? .none : s.qkNorm == .perHead ? .perHead : .whole))
            #expect(c.eosTokenId == TinyTokenizer.endOfText)
        }
        // The llama converter permutes q/k for interleaved rotary; HF weights use rotate_half.
        #expect(hf.config.ropeStyle == .neox)
        #expect(gguf.config.ropeStyle == (arch == .mixtral ? .interleaved : .neox))
        #expect(hf.tokenizer.encode("the other tin") == gguf.tokenizer.encode("the other tin"))

        for (i, prompt) in Self.prompts.enumerated() {
            let (a, _) = try Self.lastLogits(hf, prompt)
            let (b, _) = try Self.lastLogits(gguf, prompt)
            #expect(a.count == s.vocab && b.count == s.vocab)
            let diff = Self.maxDifference(a, b)
            #expect(diff <= 1e-4, "\(arch) prompt \(i): max |HF − GGUF| = \(diff)")
            // Not a vacuous agreement: the logits are spread out.
            #expect((a.max()! - a.min()!) > 1, "\(arch) prompt \(i): logits barely vary")
        }
    }

    @Test("Model.forward on the HF folder matches the naive reference within 1e-3, routing included",
          arguments: TinyArch.allCases)
    func matchesReference(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        let model = try Model(path: fixture.folder)
        let reference = ReferenceModel(fixture.checkpoint)
        for (i, prompt) in Self.prompts.enumerated() {
            let (ours, recorded) = try Self.lastLogits(model, prompt, routing: true)
            let (theirs, routing) = reference.forward(prompt)
            let diff = Self.maxDifference(ours, theirs.map { Float($0) })
            #expect(diff <= 1e-3, "\(arch) prompt \(i): max |engine − reference| = \(diff)")
            let log = try #require(recorded)
            for l in 0 ..< fixture.checkpoint.spec.layers {
                #expect(log.layers[l].count == routing[l].count, "layer \(l)")
                for (t, (got, want)) in zip(log.layers[l], routing[l]).enumerated() {
                    #expect(got.experts == want.experts, "\(arch) prompt \(i) layer \(l) token \(t)")
                    #expect(Self.maxDifference(got.weights, want.weights.map { Float($0) }) <= 1e-5)
                }
            }
        }
    }

    @Test("the GGUF Mixtral test is sensitive: without llama.cpp's q/k permutation the logits differ")
    func mixtralPermutationMatters() throws {
        let fixture = try TinyFixture(.mixtral, plan: { $0.ggufPlan(permuteLlamaQK: false) })
        let hf = try Model(path: fixture.folder)
        let gguf = try Model(path: fixture.gguf)
        let prompt = Self.prompts[2]
        let diff = Self.maxDifference(try Self.lastLogits(hf, prompt).0, try Self.lastLogits(gguf, prompt).0)
        #expect(diff > 1e-2)
    }

    @Test("Qwen2-MoE's shared-expert gate loads both 2-D [1, hidden] (convert_hf_to_gguf) and 1-D [hidden] (llama-quantize)")
    func sharedGateShapes() throws {
        let prompt = Self.prompts[1]
        var results: [[Float]] = []
        for oneD in [false, true] {
            let fixture = try TinyFixture(.qwen2_moe, plan: { $0.ggufPlan(sharedGateAs1D: oneD) })
            results.append(try Self.lastLogits(try Model(path: fixture.gguf), prompt).0)
        }
        #expect(results[0] == results[1])
    }

    @Test("OLMoE's clip_qkv clamps q, k, v in both forms as the reference does")
    func olmoeClipQKV() throws {
        let fixture = try TinyFixture(.olmoe, editHF: { $0.spec.clipQKV = 0.5; $0.config["clip_qkv"] = 0.5 },
                                      editGGUF: { $0.setMetadata("olmoe.attention.clamp_kqv", .float32(0.5)) })
        let hf = try Model(path: fixture.folder), gguf = try Model(path: fixture.gguf)
        #expect(hf.config.clipQKV == 0.5 && gguf.config.clipQKV == 0.5)
        let reference = ReferenceModel(fixture.checkpoint)
        let unclipped = ReferenceModel(TinyCheckpoint(.olmoe))
        for prompt in Self.prompts.dropFirst() {
            let a = try Self.lastLogits(hf, prompt).0, b = try Self.lastLogits(gguf, prompt).0
            #expect(Self.maxDifference(a, b) <= 1e-4)
            #expect(Self.maxDifference(a, reference.forward(prompt).logits.map { Float($0) }) <= 1e-3)
            #expect(Self.maxDifference(a, unclipped.forward(prompt).logits.map { Float($0) }) > 1e-2, "the clamp binds")
        }
    }

    @Test("a transformers 5 config (rope_parameters instead of rope_theta) reads the same")
    func ropeParameters() throws {
        let old = try TinyFixture(.qwen2_moe)
        let new = try TinyFixture(.qwen2_moe, editHF: {
            $0.config["rope_theta"] = nil
            $0.config["rope_parameters"] = ["rope_theta": 1_000_000.0, "rope_type": "default"]
        })
        let a = try Model(path: old.folder), b = try Model(path: new.folder)
        #expect(b.config.ropeTheta == 1_000_000)
        #expect(try Self.lastLogits(a, Self.prompts[2]).0 == Self.lastLogits(b, Self.prompts[2]).0)
    }
}
