import Foundation
import MoEFormats
import MoEModel
import Testing

/// Mistakes in a checkpoint surface as the FormatError that names them, from either file form.
struct ConfigErrorTests {
    /// The error `Model(path:)` throws, which must be a FormatError.
    static func loadError(_ path: String) -> FormatError? {
        do {
            _ = try Model(path: path)
            Issue.record("\(path) loaded but should not have")
            return nil
        } catch let e as FormatError {
            return e
        } catch {
            Issue.record("expected a FormatError, got \(error)")
            return nil
        }
    }

    static func expectMalformed(_ path: String, at errorPath: String, mentioning words: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        guard case let .malformed(p, what)? = loadError(path) else {
            Issue.record("expected .malformed for \(path)", sourceLocation: sourceLocation)
            return
        }
        #expect(p == errorPath, sourceLocation: sourceLocation)
        for w in words { #expect(what.contains(w), "'\(what)' should mention '\(w)'", sourceLocation: sourceLocation) }
    }

    static func moeBlock(_ arch: TinyArch) -> String { arch == .mixtral ? "block_sparse_moe" : "mlp" }
    static func upName(_ arch: TinyArch) -> String { arch == .mixtral ? "w3" : "up_proj" }

    @Test("more experts per token than experts", arguments: TinyArch.allCases)
    func tooManyExpertsPerToken(arch: TinyArch) throws {
        let ggufArch = TinyCheckpoint(arch).ggufPlan().metadata.first { $0.0 == "general.architecture" }!.1.string!
        let fixture = try TinyFixture(arch, editHF: { $0.config["num_experts_per_tok"] = 9 },
                                      editGGUF: { $0.setMetadata("\(ggufArch).expert_used_count", .uint32(9)) })
        Self.expectMalformed(fixture.folder, at: fixture.folder + "/config.json", mentioning: "experts per token (9)", "(8)")
        Self.expectMalformed(fixture.gguf, at: fixture.gguf, mentioning: "experts per token (9)")
    }

    @Test("a missing attention tensor is .missingTensor naming it", arguments: TinyArch.allCases)
    func missingAttentionTensor(arch: TinyArch) throws {
        let hfName = "model.layers.1.self_attn.k_proj.weight"
        let fixture = try TinyFixture(arch, editHF: { $0.remove(hfName) }, editGGUF: { $0.remove("blk.1.attn_k.weight") })
        #expect(Self.loadError(fixture.folder) == .missingTensor(path: fixture.folder, name: hfName))
        #expect(Self.loadError(fixture.gguf) == .missingTensor(path: fixture.gguf, name: "blk.1.attn_k.weight"))
    }

    @Test("a missing expert is .missingTensor naming it", arguments: TinyArch.allCases)
    func missingExpert(arch: TinyArch) throws {
        let hfName = "model.layers.0.\(Self.moeBlock(arch)).experts.5.\(Self.upName(arch)).weight"
        let fixture = try TinyFixture(arch, editHF: { $0.remove(hfName) }, editGGUF: { $0.remove("blk.0.ffn_up_exps.weight") })
        #expect(Self.loadError(fixture.folder) == .missingTensor(path: fixture.folder, name: hfName))
        #expect(Self.loadError(fixture.gguf) == .missingTensor(path: fixture.gguf, name: "blk.0.ffn_up_exps.weight"))
    }

    @Test("a tensor of the wrong shape is .shapeMismatch with both shapes")
    func wrongShapes() throws {
        let q = "model.layers.0.self_attn.q_proj.weight"
        let fixture = try TinyFixture(.mixtral, editHF: { $0.reshape(q, to: [48, 64]) },
                                      editGGUF: { $0.reshape("blk.0.ffn_up_exps.weight", to: [7, 32, 64]) })
        #expect(Self.loadError(fixture.folder)
            == .shapeMismatch(path: fixture.folder + "/model.safetensors", tensor: q, expected: [64, 64], found: [48, 64]))
        #expect(Self.loadError(fixture.gguf)
            == .shapeMismatch(path: fixture.gguf, tensor: "blk.0.ffn_up_exps.weight", expected: [8, 32, 64], found: [7, 32, 64]))
    }

    @Test("q/k norms of the other architecture's size are refused")
    func qkNormShapes() throws {
        // OLMoE normalises the whole projection: a per-head q_norm is wrong. Qwen3 is per head: a whole k_norm is wrong.
        let olmoe = try TinyFixture(.olmoe, editHF: { $0.reshape("model.layers.0.self_attn.q_norm.weight", to: [16]) })
        guard case let .shapeMismatch(_, tensor, expected, found)? = Self.loadError(olmoe.folder) else {
            Issue.record("expected shapeMismatch"); return
        }
        #expect(tensor == "model.layers.0.self_attn.q_norm.weight" && expected == [64] && found == [16])
        let qwen3 = try TinyFixture(.qwen3_moe, editGGUF: { $0.reshape("blk.0.attn_k_norm.weight", to: [48]) })
        #expect(Self.loadError(qwen3.gguf) == .shapeMismatch(path: qwen3.gguf, tensor: "blk.0.attn_k_norm.weight", expected: [24], found: [48]))
    }

    @Test("Qwen2-MoE needs its shared expert gate and q/k/v biases")
    func qwen2Parts() throws {
        let gate = "model.layers.2.mlp.shared_expert_gate.weight", bias = "model.layers.0.self_attn.v_proj.bias"
        let noGate = try TinyFixture(.qwen2_moe, editHF: { $0.remove(gate) }, editGGUF: { $0.remove("blk.2.ffn_gate_inp_shexp.weight") })
        #expect(Self.loadError(noGate.folder) == .missingTensor(path: noGate.folder, name: gate))
        #expect(Self.loadError(noGate.gguf) == .missingTensor(path: noGate.gguf, name: "blk.2.ffn_gate_inp_shexp.weight"))
        let noBias = try TinyFixture(.qwen2_moe, editHF: { $0.remove(bias) })
        #expect(Self.loadError(noBias.folder) == .missingTensor(path: noBias.folder, name: bias))
        // The dense layer's FFN is required too.
        let noDense = try TinyFixture(.qwen2_moe, editHF: { $0.remove("model.layers.1.mlp.down_proj.weight") })
        #expect(Self.loadError(noDense.folder) == .missingTensor(path: noDense.folder, name: "model.layers.1.mlp.down_proj.weight"))
    }

    @Test("config.json mistakes: missing field, unknown model_type, heads not divisible by KV heads")
    func configMistakes() throws {
        let noExperts = try TinyFixture(.mixtral, editHF: { $0.config["num_local_experts"] = nil })
        Self.expectMalformed(noExperts.folder, at: noExperts.folder + "/config.json", mentioning: "num_experts")
        let noFFN = try TinyFixture(.qwen2_moe, editHF: { $0.config["moe_intermediate_size"] = nil })
        Self.expectMalformed(noFFN.folder, at: noFFN.folder + "/config.json", mentioning: "moe_intermediate_size")

        let unknown = try TinyFixture(.olmoe, editHF: { $0.config["model_type"] = "not_a_model" })
        #expect(Self.loadError(unknown.folder) == .unsupportedArchitecture(path: unknown.folder + "/config.json", name: "not_a_model"))

        let heads = try TinyFixture(.qwen3_moe, editHF: { $0.config["num_key_value_heads"] = 3 },
                                    editGGUF: { $0.setMetadata("qwen3moe.attention.head_count_kv", .uint32(3)) })
        Self.expectMalformed(heads.folder, at: heads.folder + "/config.json", mentioning: "not divisible")
        Self.expectMalformed(heads.gguf, at: heads.gguf, mentioning: "not divisible")

        let wrongType = try TinyFixture(.mixtral, editHF: { $0.config["num_local_experts"] = "eight" })
        guard case .badJSON? = Self.loadError(wrongType.folder) else { Issue.record("expected badJSON"); return }
    }

    @Test("GGUF mistakes: a dense llama is not Mixtral; missing block count")
    func ggufMistakes() throws {
        let dense = try TinyFixture(.mixtral, editGGUF: { $0.setMetadata("llama.expert_count", nil) })
        #expect(Self.loadError(dense.gguf) == .unsupportedArchitecture(path: dense.gguf, name: "llama"))
        let noBlocks = try TinyFixture(.olmoe, editGGUF: { $0.setMetadata("olmoe.block_count", nil) })
        Self.expectMalformed(noBlocks.gguf, at: noBlocks.gguf, mentioning: "olmoe.block_count")
    }

    @Test("untied embeddings need lm_head.weight: a folder without it is refused, not silently tied")
    func missingOutputHead() throws {
        let fixture = try TinyFixture(.mixtral, editHF: { $0.remove("lm_head.weight") })
        #expect(Self.loadError(fixture.folder) == .missingTensor(path: fixture.folder, name: "lm_head.weight"))
    }
}
