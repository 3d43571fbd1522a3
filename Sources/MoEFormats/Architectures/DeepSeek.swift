/// DeepSeek-V3 / R1 and Kimi-K2 (`deepseek_v3`, `kimi_k2`; GGUF `deepseek2` with sigmoid gating):
/// multi-head latent attention with a q LoRA, YaRN whose mscale also enters the softmax scale, sigmoid
/// router scores with a correction bias for the choice only, group-limited top-k (group score = sum of its
/// top two), weights renormalised × `routed_scaling_factor`, ungated shared experts, the first
/// `first_k_dense_replace` layers dense.
public enum DeepSeekV3: ArchitectureSpec {
    public static let modelType = "deepseek_v3"
    public static let otherModelTypes = ["kimi_k2"]
    public static let ggufArchitectures = ["deepseek2"]
    public static let hfNaming = HFNaming.deepseek

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        var config = try DeepSeekFamily.config(hf: c, path: path, spec: self)
        config.routing = RoutingRule(scoring: .sigmoid, selectionBias: true, groups: c.nGroup ?? 1, groupsUsed: c.topkGroup ?? c.nGroup ?? 1,
                                     groupScore: .topTwoSum, scale: Float(c.routedScalingFactor ?? 1))
        config.normTopKProb = c.normTopkProb ?? true
        if c.ropeInterleave == false { config.ropeStyle = .neox }
        return config
    }

    public static func matches(gguf m: GGUFMetadata) -> Bool { m.int("expert_gating_func") == 2 }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        try DeepSeekFamily.config(gguf: m, spec: self)
    }
}

/// DeepSeek-V2 and V2-Lite (`deepseek_v2`; GGUF `deepseek2` with softmax gating): MLA (V2-Lite without q
/// LoRA), softmax scores, `greedy` top-k or `group_limited_greedy` (group score = its best), weights ×
/// `routed_scaling_factor` without renormalisation (as transformers' DeepseekV2Moe), shared experts.
public enum DeepSeekV2: ArchitectureSpec {
    public static let modelType = "deepseek_v2"
    public static let ggufArchitectures = ["deepseek2"]
    public static let hfNaming = HFNaming.deepseek

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        var config = try DeepSeekFamily.config(hf: c, path: path, spec: self)
        let method = c.topkMethod ?? "greedy"
        switch method {
        case "greedy": config.routing = RoutingRule(scoring: .softmax, scale: Float(c.routedScalingFactor ?? 1))
        case "group_limited_greedy":
            config.routing = RoutingRule(scoring: .softmax, groups: try c.require(c.nGroup, "n_group", path: path),
                                         groupsUsed: try c.require(c.topkGroup, "topk_group", path: path), groupScore: .max,
                                         scale: Float(c.routedScalingFactor ?? 1))
        default:
            throw FormatError.malformed(path: path, what: "'topk_method' '\(FormatError.clip(method, limit: 40))' is not supported (greedy, group_limited_greedy)")
        }
        config.normTopKProb = false
        return config
    }

    public static func matches(gguf m: GGUFMetadata) -> Bool { m.int("expert_gating_func") != 2 }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        try DeepSeekFamily.config(gguf: m, spec: self)
    }
}

/// What DeepSeek-V2 and V3 share.
enum DeepSeekFamily {
    static func config(hf c: HFConfig, path: String, spec: any ArchitectureSpec.Type) throws -> ModelConfig {
        let layers = try c.require(c.numHiddenLayers, "num_hidden_layers", path: path)
        let firstMoE = min(max(0, c.firstKDenseReplace ?? 0), min(max(layers, 0), ModelConfig.maxCount))
        let expertFFN = try c.require(c.moeIntermediateSize, "moe_intermediate_size", path: path)
        var hf = c
        hf.numExperts = try c.require(c.nRoutedExperts, "n_routed_experts", path: path)
        let heads = try c.require(c.numAttentionHeads, "num_attention_heads", path: path)
        let mla = LatentAttention(qLoraRank: c.qLoraRank ?? 0, kvLoraRank: try c.require(c.kvLoraRank, "kv_lora_rank", path: path),
                                  nopeDim: try c.require(c.qkNopeHeadDim, "qk_nope_head_dim", path: path),
                                  ropeDim: try c.require(c.qkRopeHeadDim, "qk_rope_head_dim", path: path),
                                  valueDim: try c.require(c.vHeadDim, "v_head_dim", path: path))
        // Heads carry qk_head_dim = nope + rope; every head has its own key (kv heads = heads).
        hf.headDim = mla.qkDim
        hf.numKeyValueHeads = heads
        var config = try spec.baseConfig(hf: hf, path: path, expertFFN: expertFFN, normTopK: false, qkNorm: .none,
                                         sharedFFN: (c.nSharedExperts ?? 0) * expertFFN, denseLayers: Set(0 ..< firstMoE))
        config.latentAttention = mla
        config.sharedExpertGated = false
        config.ropeStyle = .interleaved
        // The softmax scale × mscale(factor, mscale_all_dim)² under YaRN (DeepseekV2/V3Attention).
        let (yarn, mscaleAllDim) = try spec.rotaryScaling(hf: c, path: path)
        config.yarn = yarn
        if let yarn, let all = mscaleAllDim, all != 0 {
            let m = Float(YaRN.mscale(yarn.factor, all))
            config.attentionScaleFactor = m * m
        }
        return config
    }

    static func config(gguf m: GGUFMetadata, spec: any ArchitectureSpec.Type) throws -> ModelConfig {
        var config = try spec.baseConfig(gguf: m, normTopK: false, ropeStyle: .interleaved, qkNorm: .none)
        let path = m.file.path
        let kvLora = try m.requireInt("attention.kv_lora_rank")
        let qkDim = try m.int("attention.key_length_mla") ?? m.requireInt("attention.key_length")
        let valueDim = try m.int("attention.value_length_mla") ?? m.requireInt("attention.value_length")
        let ropeDim = try m.requireInt("rope.dimension_count")
        guard ropeDim > 0, ropeDim < qkDim else {
            throw FormatError.malformed(path: path, what: "'\(m.arch).rope.dimension_count' \(ropeDim) is not below the key length \(qkDim)")
        }
        // No `q_lora_rank` key means queries are projected directly (DeepSeek-V2-Lite), whatever the layer count.
        config.latentAttention = LatentAttention(qLoraRank: m.int("attention.q_lora_rank") ?? 0, kvLoraRank: kvLora,
                                                 nopeDim: qkDim - ropeDim, ropeDim: ropeDim, valueDim: valueDim,
                                                 latentNormEps: config.rmsNormEps)
        config.headDim = qkDim
        config.kvHeadCount = config.headCount
        config.sharedExpertGated = false
        config.sharedExpertFFN = spec.sharedExpertWidth(gguf: m, dense: config.denseLayers, layers: config.layerCount)
        config.yarn = try spec.rotaryScaling(gguf: m)
        let scoring = try spec.scoring(gguf: m, fallback: .softmax)
        let (groups, used) = try spec.groups(gguf: m)
        let hasBias = (0 ..< config.layerCount).contains { m.file.tensor(TensorName.block($0, "exp_probs_b.bias")) != nil }
        config.routing = RoutingRule(scoring: scoring, selectionBias: hasBias, groups: groups, groupsUsed: used,
                                     groupScore: scoring == .sigmoid ? .topTwoSum : .max, scale: m.float("expert_weights_scale") ?? 1)
        config.normTopKProb = m.bool("expert_weights_norm") ?? false
        // llama.cpp's DeepSeek graph: softmax scale × (1 + yarn_log_multiplier · ln factor)²
        // (yarn_log_multiplier = 0.1 · mscale_all_dim), as transformers' mscale(factor, mscale_all_dim)².
        if let yarn = config.yarn, let logMul = m.float("rope.scaling.yarn_log_multiplier"), logMul != 0 {
            let ms = 1 + logMul * logf(Float(yarn.factor))
            config.attentionScaleFactor = ms * ms
        }
        return config
    }
}

import Foundation
