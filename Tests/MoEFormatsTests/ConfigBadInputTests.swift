import Foundation
import MoEFormats
import MoEStore
import Testing

/// A model description that is malformed, unsupported or absurd is refused by the weight store with the
/// FormatError naming config.json (or the GGUF file), before any weight is used.
struct ConfigBadInputTests {
    /// A valid Qwen3-MoE config.json, to break one field at a time.
    static var qwen3: [String: Any] { [
        "model_type": "qwen3_moe", "vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "num_experts": 8,
        "num_experts_per_tok": 2, "moe_intermediate_size": 32, "intermediate_size": 96,
    ] }

    /// Opens a folder holding only `config.json`: the store reads and checks the config before the weights.
    static func storeError(config text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let dir = try BadInputScratch()
        let path = try dir.write("config.json", text: text)
        return (formatError({ _ = try WeightStore(path: dir.path) }, sourceLocation: sourceLocation), path)
    }

    static func storeError(_ changes: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let config = qwen3.merging(changes) { _, new in new }
        let data = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        return try storeError(config: String(decoding: data, as: UTF8.self), sourceLocation: sourceLocation)
    }

    @Test("the valid config passes: the store goes on to look for weights")
    func validConfig() throws {
        let (e, path) = try Self.storeError([:])
        #expect(e == .missingFile(path: path.replacingOccurrences(of: "config.json", with: "model.safetensors")))
    }

    @Test("malformed JSON", arguments: [#"{"model_type": "qwen3_moe","#, "not json", "", String(repeating: "[", count: 100_000)])
    func malformedJSON(text: String) throws {
        let (e, path) = try Self.storeError(config: text)
        guard case .badJSON? = e else { Issue.record("\(String(describing: e))"); return }
        expectMessage(e, path: path, "malformed JSON: not valid JSON")
    }

    @Test("JSON of the wrong shape: not an object, a field of the wrong type")
    func wrongShape() throws {
        let (a, aPath) = try Self.storeError(config: "[1, 2]")
        #expect(a == .badJSON(path: aPath, reason: "the top level is not an object"))
        let (t, tPath) = try Self.storeError(["num_experts": "eight"])
        #expect(t == .badJSON(path: tPath, reason: "field 'num_experts' has the wrong type"))
    }

    @Test("an unknown or missing model_type lists the supported ones")
    func unknownModelType() throws {
        let (e, path) = try Self.storeError(["model_type": "gpt_neox"])
        #expect(e == .unsupportedArchitecture(path: path, name: "gpt_neox"))
        expectMessage(e, path: path, "unsupported architecture 'gpt_neox' (supported: qwen3_moe, qwen2_moe, mixtral, olmoe, deepseek_v3, deepseek_v2, glm4_moe, ernie4_5_moe, gpt_oss)")
        let (m, mPath) = try Self.storeError(["model_type": NSNull()])
        expectMessage(m, path: mPath, "lacks 'model_type'", "qwen3_moe")
    }

    @Test("a missing required field is named", arguments: ["hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                                                          "num_experts", "num_experts_per_tok", "moe_intermediate_size"])
    func missingField(field: String) throws {
        let (e, path) = try Self.storeError([field: NSNull()])
        #expect(e == .malformed(path: path, what: "config.json lacks '\(field)'"))
    }

    /// Values no model has, each with what the message must say. Several would once have trapped (a negative
    /// layer count made an invalid range) or overflowed (heads × head size).
    static var absurd: [([String: Any], String)] { [
        (["num_hidden_layers": 0], "layer count 0 is not in 1…65536"),
        (["num_hidden_layers": -3], "layer count -3"),
        (["num_hidden_layers": 1 << 40], "layer count 1099511627776"),
        (["num_attention_heads": 0], "'num_attention_heads' 0 is not positive"),
        (["hidden_size": 100, "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": NSNull()],
         "'hidden_size' 100 is not divisible by 'num_attention_heads' 3"),
        (["num_attention_heads": 1 << 40, "head_dim": 2], "attention head count 1099511627776"),
        (["num_key_value_heads": 3], "4 attention heads not divisible by 3 KV heads"),
        (["num_experts_per_tok": 9], "experts per token (9) ≤ experts (8)"),
        (["num_experts_per_tok": 0], "experts per token (0)"),
        (["num_experts": 1 << 20], "expert count 1048576"),
        (["head_dim": 1 << 40], "head dimension 1099511627776"),
        (["head_dim": 15], "head dimension 15 is odd"),
        (["head_dim": 4096, "num_attention_heads": 512, "num_key_value_heads": 512], "512 heads × 4096 is wider than"),
        (["hidden_size": 0], "hidden size 0"),
        (["vocab_size": -1], "vocabulary size -1"),
        (["moe_intermediate_size": -5], "expert FFN width -5"),
        (["rms_norm_eps": 0], "rms_norm_eps"),
        (["eos_token_id": 300], "eos token id 300 is outside the vocabulary of 300"),
        (["mlp_only_layers": [0], "intermediate_size": NSNull()], "dense layers [0] need an FFN width"),
    ] }

    @Test("absurd values are refused, naming the value")
    func absurdValues() throws {
        for (changes, phrase) in Self.absurd {
            let (e, path) = try Self.storeError(changes)
            guard case .malformed? = e else { Issue.record("\(changes): \(String(describing: e))"); continue }
            expectMessage(e, path: path, phrase)
        }
    }

    // MARK: GGUF metadata

    /// A GGUF with Qwen3-MoE metadata and router tensors (so that both layers are MoE layers), but no other weights:
    /// enough for the store to read and check the model description. `changes` replace (or, nil, remove) keys.
    static func gguf(_ changes: [String: GGUFValue?], extraTensor: (String, TensorType, [Int])? = nil) throws -> BadInputScratch {
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("qwen3moe")), ("qwen3moe.block_count", .uint32(2)),
            ("qwen3moe.embedding_length", .uint32(64)), ("qwen3moe.attention.head_count", .uint32(4)),
            ("qwen3moe.attention.head_count_kv", .uint32(2)), ("qwen3moe.attention.key_length", .uint32(16)),
            ("qwen3moe.expert_count", .uint32(8)), ("qwen3moe.expert_used_count", .uint32(2)),
            ("qwen3moe.expert_feed_forward_length", .uint32(32)), ("qwen3moe.vocab_size", .uint32(300)),
        ]
        for (key, value) in changes {
            metadata.removeAll { $0.0 == key }
            if let value { metadata.append((key, value)) }
        }
        let dir = try BadInputScratch()
        let w = try GGUFWriter(path: dir.file("model.gguf"))
        for (k, v) in metadata { try w.setMetadata(k, v) }
        var tensors = (0 ..< 2).map { ("blk.\($0).ffn_gate_inp.weight", TensorType.f32, [8, 64]) }
        if let extraTensor { tensors.append(extraTensor) }
        for (name, type, shape) in tensors {
            try w.addTensor(name: name, type: type, shape: shape, bytes: [UInt8](repeating: 0, count: type.byteCount(elements: shape.reduce(1, *))!))
        }
        try w.finish()
        return dir
    }

    static func ggufError(_ changes: [String: GGUFValue?], extraTensor: (String, TensorType, [Int])? = nil,
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let dir = try gguf(changes, extraTensor: extraTensor)
        let path = dir.file("model.gguf")
        return (formatError({ _ = try WeightStore(path: path) }, sourceLocation: sourceLocation), path)
    }

    @Test("the valid GGUF description loads")
    func validGGUF() throws {
        let dir = try Self.gguf([:])
        let store = try WeightStore(path: dir.file("model.gguf"))
        #expect(store.config.expertCount == 8 && store.config.denseLayers.isEmpty)
    }

    @Test("an unknown or missing general.architecture lists the supported ones")
    func unknownArchitecture() throws {
        let (e, path) = try Self.ggufError(["general.architecture": .string("bert")])
        #expect(e == .unsupportedArchitecture(path: path, name: "bert"))
        expectMessage(e, path: path, "unsupported architecture 'bert'", "qwen3moe", "llama with experts (Mixtral)", "olmoe")
        let (m, mPath) = try Self.ggufError(["general.architecture": nil])
        expectMessage(m, path: mPath, "metadata lacks general.architecture", "qwen3moe")
        let (n, nPath) = try Self.ggufError(["general.architecture": .uint32(3)])
        expectMessage(n, path: nPath, "metadata has a non-string general.architecture")
    }

    @Test("GGUF metadata that is missing, of the wrong type, or absurd")
    func ggufMetadata() throws {
        let cases: [([String: GGUFValue?], String)] = [
            (["qwen3moe.embedding_length": nil], "metadata lacks 'qwen3moe.embedding_length'"),
            (["qwen3moe.block_count": .string("2")], "'qwen3moe.block_count' is not an integer"),
            (["qwen3moe.block_count": .uint64(.max)], "'qwen3moe.block_count' is not an integer"),
            (["qwen3moe.block_count": .int32(-1)], "'qwen3moe.block_count' -1 is not in 1…65536"),
            (["qwen3moe.block_count": .uint32(1 << 30)], "'qwen3moe.block_count' 1073741824 is not in 1…65536"),
            (["qwen3moe.embedding_length": .uint32(100), "qwen3moe.attention.head_count": .uint32(3),
              "qwen3moe.attention.key_length": nil], "'qwen3moe.embedding_length' 100 is not divisible by 'qwen3moe.attention.head_count' 3"),
            (["qwen3moe.attention.head_count": .int32(0)], "'qwen3moe.attention.head_count' 0 is not positive"),
            (["qwen3moe.expert_used_count": .uint32(9)], "experts per token (9) ≤ experts (8)"),
            (["qwen3moe.rope.freq_base": .float32(.infinity)], "rope theta (inf) must be positive and finite"),
            (["tokenizer.ggml.eos_token_id": .uint32(1000)], "eos token id 1000 is outside the vocabulary of 300"),
        ]
        for (changes, phrase) in cases {
            let (e, path) = try Self.ggufError(changes)
            guard case .malformed? = e else { Issue.record("\(changes): \(String(describing: e))"); continue }
            expectMessage(e, path: path, phrase)
        }
    }

    @Test("a tensor of a recognised type the kernels cannot compute with is refused naming it")
    func unsupportedTensorType() throws {
        // Q8_1: a ggml type that only ever holds activations, never supported as a weight.
        let (e, path) = try Self.ggufError([:], extraTensor: ("blk.0.attn_q.weight", .q8_1, [64, 64]))
        #expect(e == .unknownDType(path: path, tensor: "blk.0.attn_q.weight", dtype: "Q8_1"))
    }

    // MARK: Round-2 architectures (MLA, grouped routing, YaRN)

    /// A valid DeepSeek-V3 config.json (MLA with q LoRA, YaRN, 4 groups of which 2 chosen), to break one key at a time.
    static var deepseekV3: [String: Any] { [
        "model_type": "deepseek_v3", "vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4, "q_lora_rank": 32, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8,
        "v_head_dim": 16, "n_routed_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "intermediate_size": 96,
        "n_shared_experts": 1, "first_k_dense_replace": 1, "n_group": 4, "topk_group": 2, "routed_scaling_factor": 2.5,
        "rope_parameters": ["rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256, "rope_theta": 10000.0,
                            "mscale": 1.0, "mscale_all_dim": 1.0] as [String: Any],
    ] }

    static func storeError(base: [String: Any], _ changes: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let config = base.merging(changes) { _, new in new }
        let data = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        return try storeError(config: String(decoding: data, as: UTF8.self), sourceLocation: sourceLocation)
    }

    @Test("the valid DeepSeek-V3 config passes: the store goes on to look for weights")
    func validDeepSeekConfig() throws {
        let (e, path) = try Self.storeError(base: Self.deepseekV3, [:])
        #expect(e == .missingFile(path: path.replacingOccurrences(of: "config.json", with: "model.safetensors")))
    }

    /// Issue 14's bad input: a missing or contradictory key gets one line naming it.
    static var roundTwoMistakes: [(base: String, changes: [String: Any], phrase: String)] { [
        ("deepseek_v3", ["topk_group": 5], "'topk_group' 5 is not in 1…4 ('n_group')"),
        ("deepseek_v3", ["kv_lora_rank": NSNull()], "config.json lacks 'kv_lora_rank'"),
        ("deepseek_v3", ["rope_parameters": ["rope_type": "longrope", "factor": 4.0, "rope_theta": 10000.0] as [String: Any]],
         "'rope_parameters.rope_type' 'longrope' is not supported (known: default, yarn)"),
        ("deepseek_v3", ["rope_parameters": NSNull(), "rope_scaling": ["type": "dynamic", "factor": 2.0] as [String: Any]],
         "'rope_scaling.type' 'dynamic' is not supported"),
        ("deepseek_v3", ["n_group": 3], "8 experts do not split into 'n_group' 3 groups"),
        ("deepseek_v3", ["qk_rope_head_dim": NSNull()], "config.json lacks 'qk_rope_head_dim'"),
        ("deepseek_v2", ["topk_method": "group_limited_greedy", "n_group": 2, "topk_group": 3], "'topk_group' 3 is not in 1…2 ('n_group')"),
        ("deepseek_v2", ["kv_lora_rank": NSNull(), "q_lora_rank": NSNull()], "config.json lacks 'kv_lora_rank'"),
        ("glm4_moe", ["n_group": 2, "topk_group": 4], "'topk_group' 4 is not in 1…2 ('n_group')"),
    ] }

    @Test("round-2 configs: contradictory groups, unknown rope scaling, missing MLA keys are named")
    func roundTwoConfigMistakes() throws {
        for (base, changes, phrase) in Self.roundTwoMistakes {
            var config = Self.deepseekV3
            config["model_type"] = base
            if base == "glm4_moe" {
                for key in ["q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"] { config[key] = nil }
                config["num_key_value_heads"] = 2
                config["rope_parameters"] = ["rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5] as [String: Any]
            }
            let (e, path) = try Self.storeError(base: config, changes)
            guard case .malformed? = e else { Issue.record("\(base) \(changes): \(String(describing: e))"); continue }
            expectMessage(e, path: path, phrase)
        }
    }

    /// A valid gpt-oss config.json (sinks, a window on even layers, YaRN), to break one field at a time.
    static var gptOss: [String: Any] { [
        "model_type": "gpt_oss", "vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "num_local_experts": 8, "num_experts_per_tok": 2, "intermediate_size": 32,
        "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"], "swiglu_limit": 7.0,
        "rope_parameters": ["rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 256, "rope_theta": 10000.0,
                            "truncate": false] as [String: Any],
    ] }

    @Test("gpt-oss configs: layer_types that do not fit, a bad swiglu_limit or window are named")
    func gptOssConfigMistakes() throws {
        let (valid, validPath) = try Self.storeError(base: Self.gptOss, [:])
        #expect(valid == .missingFile(path: validPath.replacingOccurrences(of: "config.json", with: "model.safetensors")))
        let mistakes: [([String: Any], String)] = [
            (["layer_types": ["sliding_attention"]], "'layer_types' lists 1 layers, 'num_hidden_layers' is 2"),
            (["layer_types": ["sliding_attention", "chunked_attention"]], "'layer_types' entry 'chunked_attention' is not sliding_attention or full_attention"),
            (["swiglu_limit": -1.0], "swiglu_alpha 1.702 and swiglu_limit -1.0 must be finite, the limit positive"),
            (["sliding_window": 0], "sliding window 0 is not positive"),
        ]
        for (changes, phrase) in mistakes {
            let (e, path) = try Self.storeError(base: Self.gptOss, changes)
            guard case .malformed? = e else { Issue.record("\(changes): \(String(describing: e))"); continue }
            expectMessage(e, path: path, phrase)
        }
    }

    /// A deepseek2 GGUF description (MLA, sigmoid routing in 4 groups) with router tensors and no other weights.
    /// The scratch folder owns the file (removed with it); the file is its `model.gguf`.
    static func deepseekGGUF(_ changes: [String: GGUFValue?]) throws -> BadInputScratch {
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("deepseek2")), ("deepseek2.block_count", .uint32(2)),
            ("deepseek2.embedding_length", .uint32(64)), ("deepseek2.attention.head_count", .uint32(4)),
            ("deepseek2.attention.head_count_kv", .uint32(1)), ("deepseek2.attention.key_length", .uint32(40)),
            ("deepseek2.attention.value_length", .uint32(32)), ("deepseek2.attention.key_length_mla", .uint32(24)),
            ("deepseek2.attention.value_length_mla", .uint32(16)), ("deepseek2.attention.kv_lora_rank", .uint32(32)),
            ("deepseek2.attention.q_lora_rank", .uint32(32)), ("deepseek2.rope.dimension_count", .uint32(8)),
            ("deepseek2.expert_count", .uint32(8)), ("deepseek2.expert_used_count", .uint32(2)),
            ("deepseek2.expert_feed_forward_length", .uint32(32)), ("deepseek2.vocab_size", .uint32(300)),
            ("deepseek2.expert_group_count", .uint32(4)), ("deepseek2.expert_group_used_count", .uint32(2)),
            ("deepseek2.expert_gating_func", .uint32(2)),
        ]
        for (key, value) in changes {
            metadata.removeAll { $0.0 == key }
            if let value { metadata.append((key, value)) }
        }
        let dir = try BadInputScratch()
        let path = dir.file("model.gguf")
        let w = try GGUFWriter(path: path)
        for (k, v) in metadata { try w.setMetadata(k, v) }
        for l in 0 ..< 2 {
            try w.addTensor(name: "blk.\(l).ffn_gate_inp.weight", type: .f32, shape: [8, 64], bytes: [UInt8](repeating: 0, count: 8 * 64 * 4))
        }
        try w.finish()
        return dir
    }

    @Test("round-2 GGUF metadata: contradictory groups, unknown rope scaling, missing MLA keys are named")
    func roundTwoGGUFMistakes() throws {
        let valid = try Self.deepseekGGUF([:])
        let store = try WeightStore(path: valid.file("model.gguf"))
        #expect(store.config.latentAttention?.kvLoraRank == 32 && store.config.routing.groupsUsed == 2)
        let cases: [([String: GGUFValue?], String)] = [
            (["deepseek2.expert_group_used_count": .uint32(5)], "'deepseek2.expert_group_used_count' 5 is not in 1…4 ('deepseek2.expert_group_count')"),
            (["deepseek2.attention.kv_lora_rank": nil], "metadata lacks 'deepseek2.attention.kv_lora_rank'"),
            (["deepseek2.rope.scaling.type": .string("longrope")], "'deepseek2.rope.scaling.type' 'longrope' is not supported (known: none, yarn)"),
            (["deepseek2.rope.scaling.type": .string("yarn")], "YaRN needs 'deepseek2.rope.scaling.factor'"),
            (["deepseek2.expert_gating_func": .uint32(3), "deepseek2.expert_group_count": nil, "deepseek2.expert_group_used_count": nil],
             "'deepseek2.expert_gating_func' 3 is not supported"),
        ]
        for (changes, phrase) in cases {
            let dir = try Self.deepseekGGUF(changes)
            let path = dir.file("model.gguf")
            let e = formatError({ _ = try WeightStore(path: path) })
            guard case .malformed? = e else { Issue.record("\(changes): \(String(describing: e))"); continue }
            expectMessage(e, path: path, phrase)
        }
    }
}
