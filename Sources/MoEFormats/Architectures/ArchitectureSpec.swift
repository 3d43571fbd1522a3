/// One supported architecture: how to read its config from either file type and how it names tensors.
/// Adding an architecture means adding one file with a type conforming to this, and one line in `registry`.
public protocol ArchitectureSpec: Sendable {
    /// Registry key (HF `model_type`).
    static var modelType: String { get }
    /// GGUF `general.architecture` values this spec reads.
    static var ggufArchitectures: [String] { get }
    static var hfNaming: HFNaming { get }
    static func config(hf: HFConfig, path: String) throws -> ModelConfig
    static func config(gguf: GGUFMetadata) throws -> ModelConfig
    /// Whether a GGUF file of one of `ggufArchitectures` really is this model (Mixtral shares `llama`).
    static func matches(gguf: GGUFMetadata) -> Bool
    /// Other HF `model_type`s read by this spec (Kimi-K2's `kimi_k2` is DeepSeek-V3).
    static var otherModelTypes: [String] { get }
    /// GGUF tensor names of this architecture that differ from the canonical ones, canonical → in the file
    /// (GLM-4.5 calls the FFN norm `post_attention_norm`).
    static var ggufTensorAliases: [String: String] { get }
    /// Tensors built at load from a safetensors checkpoint whose layout is not ggml's (gpt-oss's fused,
    /// transposed or MXFP4-packed experts), by canonical name.
    static func derivedTensors(checkpoint: SafetensorsCheckpoint, config: ModelConfig, path: String) throws -> DerivedTensors
}

extension ArchitectureSpec {
    public static func matches(gguf: GGUFMetadata) -> Bool { true }
    public static var otherModelTypes: [String] { [] }
    public static var ggufTensorAliases: [String: String] { [:] }
    public static func derivedTensors(checkpoint: SafetensorsCheckpoint, config: ModelConfig, path: String) throws -> DerivedTensors {
        DerivedTensors()
    }

    /// The fields every Llama-family GGUF shares.
    static func baseConfig(gguf m: GGUFMetadata, normTopK: Bool, ropeStyle: ModelConfig.RopeStyle,
                           qkNorm: ModelConfig.QKNorm, attentionBias: Bool = false) throws -> ModelConfig {
        let path = m.file.path
        let hidden = try m.requireInt("embedding_length")
        let heads = try m.requireInt("attention.head_count")
        guard let vocab = m.vocabSize else { throw FormatError.malformed(path: path, what: "cannot tell the vocabulary size") }
        let layers = try m.requireInt("block_count")
        // Checked before the loop below runs over the layers (validate() checks the rest).
        guard layers > 0, layers <= ModelConfig.maxCount else {
            throw FormatError.malformed(path: path, what: "'\(m.arch).block_count' \(layers) is not in 1…\(ModelConfig.maxCount)")
        }
        let keyLength = m.int("attention.key_length")
        try checkHeads(hidden: hidden, heads: heads, headDim: keyLength, names: ("\(m.arch).embedding_length", "\(m.arch).attention.head_count"), path: path)
        let experts = m.int("expert_count") ?? 0
        // Dense layers: those without a router tensor.
        let dense = Set((0 ..< layers).filter { m.file.tensor(TensorName.block($0, "ffn_gate_inp.weight")) == nil })
        return ModelConfig(
            architecture: modelType, vocabSize: vocab, hiddenSize: hidden, layerCount: layers,
            headCount: heads, kvHeadCount: m.int("attention.head_count_kv") ?? heads,
            headDim: keyLength ?? hidden / heads,
            expertCount: experts, expertsPerToken: m.int("expert_used_count") ?? 0,
            expertFFN: m.int("expert_feed_forward_length") ?? m.int("feed_forward_length") ?? 0,
            sharedExpertFFN: m.int("expert_shared_feed_forward_length") ?? 0,
            denseFFN: m.int("feed_forward_length") ?? 0, denseLayers: dense,
            normTopKProb: m.bool("expert_weights_norm") ?? normTopK,
            rmsNormEps: m.float("attention.layer_norm_rms_epsilon") ?? 1e-6,
            ropeTheta: m.float("rope.freq_base") ?? 10000, ropeStyle: ropeStyle, qkNorm: qkNorm,
            attentionBias: attentionBias, clipQKV: m.float("attention.clamp_kqv"),
            tieWordEmbeddings: m.file.tensor(TensorName.output) == nil,
            maxPositions: m.int("context_length") ?? 4096, eosTokenId: m.eosTokenId, bosTokenId: m.bosTokenId)
    }

    /// The fields every Llama-family HF config shares; `expertFFN` and the routing rule are the caller's.
    static func baseConfig(hf c: HFConfig, path: String, expertFFN: Int, normTopK: Bool, qkNorm: ModelConfig.QKNorm,
                           attentionBias: Bool = false, sharedFFN: Int = 0, denseLayers: Set<Int> = []) throws -> ModelConfig {
        let hidden = try c.require(c.hiddenSize, "hidden_size", path: path)
        let heads = try c.require(c.numAttentionHeads, "num_attention_heads", path: path)
        let experts = try c.require(c.numExperts ?? c.numLocalExperts, "num_experts", path: path)
        try checkHeads(hidden: hidden, heads: heads, headDim: c.headDim, names: ("hidden_size", "num_attention_heads"), path: path)
        return ModelConfig(
            architecture: modelType, vocabSize: try c.require(c.vocabSize, "vocab_size", path: path),
            hiddenSize: hidden, layerCount: try c.require(c.numHiddenLayers, "num_hidden_layers", path: path),
            headCount: heads, kvHeadCount: c.numKeyValueHeads ?? heads, headDim: c.headDim ?? hidden / heads,
            expertCount: experts, expertsPerToken: try c.require(c.numExpertsPerTok, "num_experts_per_tok", path: path),
            expertFFN: expertFFN, sharedExpertFFN: sharedFFN, denseFFN: c.intermediateSize ?? 0, denseLayers: denseLayers,
            normTopKProb: normTopK, rmsNormEps: Float(c.rmsNormEps ?? 1e-6), ropeTheta: Float(c.resolvedRopeTheta ?? 10000),
            ropeStyle: .neox, qkNorm: qkNorm, attentionBias: attentionBias, clipQKV: c.clipQkv.map { Float($0) },
            tieWordEmbeddings: c.tieWordEmbeddings ?? false, maxPositions: c.maxPositionEmbeddings ?? 4096,
            eosTokenId: c.eosTokenId?.ids.first, bosTokenId: c.bosTokenId?.ids.first)
    }

    /// The head count must be positive, and when no head size is given (it is then hidden / heads) it must
    /// divide the hidden size: a remainder would silently drop columns.
    static func checkHeads(hidden: Int, heads: Int, headDim: Int?, names: (hidden: String, heads: String), path: String) throws {
        guard heads > 0 else { throw FormatError.malformed(path: path, what: "'\(names.heads)' \(heads) is not positive") }
        guard headDim != nil || hidden % heads == 0 else {
            throw FormatError.malformed(path: path, what: "'\(names.hidden)' \(hidden) is not divisible by '\(names.heads)' \(heads)")
        }
    }

    /// Qwen-style dense layers: listed in `mlp_only_layers`, or not on the `decoder_sparse_step` grid.
    static func qwenDenseLayers(_ c: HFConfig) -> Set<Int> {
        // Clamped so that a corrupt count cannot make a huge (or, negative, an invalid) range; validate() refuses it.
        let n = min(max(0, c.numHiddenLayers ?? 0), ModelConfig.maxCount)
        let step = max(1, c.decoderSparseStep ?? 1)
        let only = Set(c.mlpOnlyLayers ?? [])
        return Set((0 ..< n).filter { only.contains($0) || ($0 + 1) % step != 0 })
    }
}

/// All supported architectures, keyed by HF `model_type`.
public enum Architectures {
    public static let registry: [any ArchitectureSpec.Type] = [
        Qwen3MoE.self, Qwen2MoE.self, Mixtral.self, OLMoE.self,
        DeepSeekV3.self, DeepSeekV2.self, GLM4MoE.self, Ernie45MoE.self, GptOss.self,
    ]

    /// For error messages: the `model_type`s and GGUF `general.architecture`s that can be read.
    public static var supportedModelTypes: String { registry.map { $0.modelType }.joined(separator: ", ") }
    public static var supportedGGUFArchitectures: String {
        var seen = Set<String>()
        return registry.map { $0 == Mixtral.self ? "llama with experts (Mixtral)" : $0.ggufArchitectures.joined(separator: ", ") }
            .filter { seen.insert($0).inserted }.joined(separator: ", ")
    }

    public static func spec(modelType: String, path: String) throws -> any ArchitectureSpec.Type {
        guard let s = registry.first(where: { $0.modelType == modelType || $0.otherModelTypes.contains(modelType) }) else {
            throw FormatError.unsupportedArchitecture(path: path, name: modelType)
        }
        return s
    }

    public static func spec(gguf file: GGUFFile) throws -> any ArchitectureSpec.Type {
        guard let arch = file.architecture else {
            let why = file.metadata["general.architecture"] == nil ? "lacks" : "has a non-string"
            throw FormatError.malformed(path: file.path, what: "metadata \(why) general.architecture (supported: \(supportedGGUFArchitectures))")
        }
        let m = GGUFMetadata(file, arch: arch)
        guard let s = registry.first(where: { $0.ggufArchitectures.contains(arch) && $0.matches(gguf: m) }) else {
            throw FormatError.unsupportedArchitecture(path: file.path, name: arch)
        }
        return s
    }
}
