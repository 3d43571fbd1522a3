/// GLM-4.5 / 4.6 / 4.5-Air (`glm4_moe`; GGUF `glm4moe`): grouped-query attention with q/k/v biases and an
/// optional per-head q/k RMSNorm, NeoX rotary on the first `partial_rotary_factor` of each head, DeepSeek-V3's
/// router (sigmoid scores, correction bias for the choice, groups, renormalise × `routed_scaling_factor`), an
/// ungated shared expert, the first `first_k_dense_replace` layers dense. GGUF files may append
/// next-token-prediction layers (`nextn_predict_layers`), which inference does not run: they are skipped.
public enum GLM4MoE: ArchitectureSpec {
    public static let modelType = "glm4_moe"
    public static let ggufArchitectures = ["glm4moe"]
    public static let hfNaming = HFNaming.deepseek
    public static let ggufTensorAliases = [
        "ffn_norm.weight": "post_attention_norm.weight",
    ]

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        let layers = try c.require(c.numHiddenLayers, "num_hidden_layers", path: path)
        let firstMoE = min(max(0, c.firstKDenseReplace ?? 1), min(max(layers, 0), ModelConfig.maxCount))
        let expertFFN = try c.require(c.moeIntermediateSize, "moe_intermediate_size", path: path)
        var hf = c
        hf.numExperts = try c.require(c.nRoutedExperts, "n_routed_experts", path: path)
        var config = try baseConfig(hf: hf, path: path, expertFFN: expertFFN, normTopK: c.normTopkProb ?? true,
                                    qkNorm: c.useQkNorm == true ? .perHead : .none, attentionBias: c.attentionBias ?? false,
                                    sharedFFN: (c.nSharedExperts ?? 1) * expertFFN, denseLayers: Set(0 ..< firstMoE))
        config.sharedExpertGated = false
        config.routing = RoutingRule(scoring: .sigmoid, selectionBias: true, groups: c.nGroup ?? 1, groupsUsed: c.topkGroup ?? c.nGroup ?? 1,
                                     scale: Float(c.routedScalingFactor ?? 1))
        let partial = c.resolvedRopeScaling?.partialRotaryFactor ?? c.ropeParameters?.partialRotaryFactor ?? c.partialRotaryFactor ?? 0.5
        config.partialRotaryDim = Int(Double(config.headDim) * partial)
        config.yarn = try rotaryScaling(hf: c, path: path).yarn
        return config
    }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        var config = try baseConfig(gguf: m, normTopK: true, ropeStyle: .neox,
                                    qkNorm: m.file.tensor(TensorName.block(0, "attn_q_norm.weight")) != nil ? .perHead : .none,
                                    attentionBias: m.file.tensor(TensorName.block(0, "attn_q.bias")) != nil)
        let nextN = m.int("nextn_predict_layers") ?? 0
        guard nextN >= 0, nextN < config.layerCount else {
            throw FormatError.malformed(path: m.file.path, what: "'\(m.arch).nextn_predict_layers' \(nextN) leaves no layer of \(config.layerCount)")
        }
        config.layerCount -= nextN
        config.denseLayers = config.denseLayers.filter { $0 < config.layerCount }
        config.sharedExpertGated = false
        config.sharedExpertFFN = sharedExpertWidth(gguf: m, dense: config.denseLayers, layers: config.layerCount)
        let (groups, used) = try groups(gguf: m)
        config.routing = RoutingRule(scoring: try scoring(gguf: m, fallback: .sigmoid), selectionBias: true, groups: groups, groupsUsed: used,
                                     scale: m.float("expert_weights_scale") ?? 1)
        config.partialRotaryDim = m.int("rope.dimension_count")
        config.yarn = try rotaryScaling(gguf: m)
        return config
    }
}
