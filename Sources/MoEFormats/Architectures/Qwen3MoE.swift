/// Qwen3-MoE: per-head q/k RMSNorm, no attention bias, NeoX rotary, softmax → top-k → renormalise if
/// `norm_topk_prob`. Layers listed in `mlp_only_layers` (or off the `decoder_sparse_step` grid) are dense.
public enum Qwen3MoE: ArchitectureSpec {
    public static let modelType = "qwen3_moe"
    public static let ggufArchitectures = ["qwen3moe"]
    public static let hfNaming = HFNaming.standard

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        try baseConfig(hf: c, path: path, expertFFN: try c.require(c.moeIntermediateSize, "moe_intermediate_size", path: path),
                       normTopK: c.normTopkProb ?? false, qkNorm: .perHead, attentionBias: c.attentionBias ?? false,
                       denseLayers: qwenDenseLayers(c))
    }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        // llama.cpp always renormalises Qwen3-MoE's top-k weights.
        try baseConfig(gguf: m, normTopK: true, ropeStyle: .neox, qkNorm: .perHead)
    }
}
