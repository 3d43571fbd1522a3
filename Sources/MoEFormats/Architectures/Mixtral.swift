/// Mixtral: Llama attention (no bias, no q/k norm), top-k of the router logits with softmax over the k
/// (= softmax over all then renormalise). In GGUF it is `llama` with `expert_count` > 0, and llama.cpp's
/// converter permutes q/k rows for interleaved rotary, so GGUF Mixtral uses `.interleaved`.
public enum Mixtral: ArchitectureSpec {
    public static let modelType = "mixtral"
    public static let ggufArchitectures = ["llama"]
    public static let hfNaming = HFNaming.mixtral

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        try baseConfig(hf: c, path: path, expertFFN: try c.require(c.intermediateSize, "intermediate_size", path: path),
                       normTopK: true, qkNorm: .none)
    }

    public static func matches(gguf m: GGUFMetadata) -> Bool { (m.int("expert_count") ?? 0) > 0 }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        try baseConfig(gguf: m, normTopK: true, ropeStyle: .interleaved, qkNorm: .none)
    }
}
