/// Qwen2-MoE: q/k/v biases, no q/k norm, NeoX rotary, softmax → top-k (renormalised only if
/// `norm_topk_prob`, default false), plus a shared expert on every token scaled by sigmoid(gate · x).
public enum Qwen2MoE: ArchitectureSpec {
    public static let modelType = "qwen2_moe"
    public static let ggufArchitectures = ["qwen2moe"]
    public static let hfNaming = HFNaming.standard

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        try baseConfig(hf: c, path: path, expertFFN: try c.require(c.moeIntermediateSize, "moe_intermediate_size", path: path),
                       normTopK: c.normTopkProb ?? false, qkNorm: .none, attentionBias: c.qkvBias ?? true,
                       sharedFFN: c.sharedExpertIntermediateSize ?? 0, denseLayers: qwenDenseLayers(c))
    }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        try baseConfig(gguf: m, normTopK: false, ropeStyle: .neox, qkNorm: .none,
                       attentionBias: m.file.tensor(TensorName.block(0, "attn_q.bias")) != nil)
    }
}
