/// OLMoE: RMSNorm over the whole q and k projections (not per head), optional clamp of q/k/v,
/// NeoX rotary, softmax → top-k without renormalisation (`norm_topk_prob` false by default).
public enum OLMoE: ArchitectureSpec {
    public static let modelType = "olmoe"
    public static let ggufArchitectures = ["olmoe"]
    public static let hfNaming = HFNaming.standard

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        try baseConfig(hf: c, path: path, expertFFN: try c.require(c.intermediateSize, "intermediate_size", path: path),
                       normTopK: c.normTopkProb ?? false, qkNorm: .whole)
    }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        try baseConfig(gguf: m, normTopK: false, ropeStyle: .neox, qkNorm: .whole)
    }
}
