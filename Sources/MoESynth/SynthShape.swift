import MoEFormats

/// The dimensions of a synthetic model. Without `deepSeek`, a Qwen3-MoE model: every layer is an MoE layer
/// (no dense layers, no shared expert), q/k RMSNorm per head, untied output head, as in Qwen3-30B-A3B.
/// With `deepSeek`, a DeepSeek-V3 model (GGUF architecture `deepseek2`): multi-head latent attention, sigmoid
/// routing with a correction bias and expert groups, shared experts, dense first layers.
public struct SynthShape: Sendable, Equatable {
    /// What a DeepSeek-V3-shaped model adds. `heads` counts query heads; `kvHeads` is then `heads` (every head
    /// has its own key, expanded from the latent) and `headDim` the query/key head width, `nopeDim + ropeDim`.
    public struct DeepSeek: Sendable, Equatable {
        /// Width of the query bottleneck (`q_lora_rank`); 0 projects queries directly (as V2-Lite).
        public var qLoraRank: Int
        /// Width of the compressed key/value latent the cache holds (`kv_lora_rank`).
        public var kvLoraRank: Int
        /// Per-head key/query dimensions without and with rotary position (`qk_nope_head_dim`, `qk_rope_head_dim`).
        public var nopeDim: Int
        public var ropeDim: Int
        /// Per-head value width (`v_head_dim`).
        public var valueDim: Int
        /// Shared experts, each `expertFFN` wide (`n_shared_experts`); their FFN is one of that count × the width.
        public var sharedExperts: Int
        /// Dense FFN layers before the first MoE layer (`first_k_dense_replace`).
        public var denseLayers: Int
        /// Expert groups and how many of them a token may choose from (`n_group`, `topk_group`).
        public var groups: Int
        public var groupsUsed: Int
        /// Mixing weights × this after renormalisation (`routed_scaling_factor`).
        public var routedScale: Float
        /// YaRN context extension: `factor` and the original context in tokens (`contextLength` is then
        /// factor × original, as in DeepSeek-V3: 40 × 4096 = 163840). Factor 1: no YaRN keys.
        public var yarnFactor: Double
        public var yarnOriginalContext: Int
        /// `mscale_all_dim`; llama.cpp stores 0.1 × it as `rope.scaling.yarn_log_multiplier`.
        public var mscaleAllDim: Double = 1

        public init(qLoraRank: Int, kvLoraRank: Int, nopeDim: Int, ropeDim: Int, valueDim: Int, sharedExperts: Int,
                    denseLayers: Int, groups: Int, groupsUsed: Int, routedScale: Float, yarnFactor: Double, yarnOriginalContext: Int) {
            self.qLoraRank = qLoraRank
            self.kvLoraRank = kvLoraRank
            self.nopeDim = nopeDim
            self.ropeDim = ropeDim
            self.valueDim = valueDim
            self.sharedExperts = sharedExperts
            self.denseLayers = denseLayers
            self.groups = groups
            self.groupsUsed = groupsUsed
            self.routedScale = routedScale
            self.yarnFactor = yarnFactor
            self.yarnOriginalContext = yarnOriginalContext
        }

        /// Query/key head width.
        public var qkDim: Int { nopeDim + ropeDim }
    }

    public var layers: Int
    public var hidden: Int
    public var experts: Int
    public var topK: Int
    /// Width of one expert's FFN (`moe_intermediate_size`).
    public var expertFFN: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// `max_position_embeddings` / `qwen3moe.context_length`, in tokens.
    public var contextLength: Int = 4096
    public var ropeTheta: Double = 10_000
    public var rmsNormEps: Double = 1e-6
    /// Set for a DeepSeek-V3-shaped model (GGUF `deepseek2`); nil for Qwen3-MoE.
    public var deepSeek: DeepSeek?

    public init(layers: Int, hidden: Int, experts: Int, topK: Int, expertFFN: Int, heads: Int, kvHeads: Int, headDim: Int,
                contextLength: Int = 4096, ropeTheta: Double = 10_000, rmsNormEps: Double = 1e-6, deepSeek: DeepSeek? = nil) {
        self.layers = layers
        self.hidden = hidden
        self.experts = experts
        self.topK = topK
        self.expertFFN = expertFFN
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.contextLength = contextLength
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.deepSeek = deepSeek
    }

    /// GGUF `general.architecture`.
    public var architecture: String { deepSeek == nil ? "qwen3moe" : "deepseek2" }

    /// OLMoE-1B-7B's dimensions: ≈ 6.6 B parameters (with a 4096-token vocabulary), ≈ 3.5 GiB in Q4_0.
    public static let olmoeLike = SynthShape(layers: 16, hidden: 2048, experts: 64, topK: 8, expertFFN: 1024,
                                             heads: 16, kvHeads: 4, headDim: 128, contextLength: 4096)
    /// Qwen3-30B-A3B's dimensions: ≈ 29.9 B parameters (with a 4096-token vocabulary), ≈ 17 GB in Q4_0.
    public static let qwen3_30bA3bLike = SynthShape(layers: 48, hidden: 2048, experts: 128, topK: 8, expertFFN: 768,
                                                    heads: 32, kvHeads: 4, headDim: 128, contextLength: 40960,
                                                    ropeTheta: 1_000_000)
    /// A model that builds in well under a second, for tests.
    public static let tiny = SynthShape(layers: 2, hidden: 64, experts: 8, topK: 2, expertFFN: 32,
                                        heads: 4, kvHeads: 2, headDim: 16, contextLength: 2048)

    /// DeepSeek-V3's layout at about a tenth of its size (V3: 61 layers, hidden 7168, 256 experts of 2048, top-8,
    /// 1 shared, 3 dense, 8 groups top-4, 128 heads): 32 layers, hidden 2048, 64 experts of 1408 top-6, 2 shared,
    /// 1 dense, 8 groups top-4, 16 heads with V3's MLA widths (q LoRA 768 — V3's 1536 halved with the
    /// hidden size —, latent 512, nope 128, rope 64, value 128) and V3's YaRN (factor 40 there, 4 here, so
    /// llama.cpp's default context of the model's length stays small): ≈ 18 B parameters, ≈ 10 GB in Q4_0.
    public static let deepseekV3Like = SynthShape(
        layers: 32, hidden: 2048, experts: 64, topK: 6, expertFFN: 1408, heads: 16, kvHeads: 16, headDim: 192,
        contextLength: 16384, ropeTheta: 10_000,
        deepSeek: DeepSeek(qLoraRank: 768, kvLoraRank: 512, nopeDim: 128, ropeDim: 64, valueDim: 128, sharedExperts: 2,
                           denseLayers: 1, groups: 8, groupsUsed: 4, routedScale: 2.5, yarnFactor: 4, yarnOriginalContext: 4096))
    /// A DeepSeek-V3-shaped model that builds in well under a second, for tests: every part of the large one
    /// (q LoRA, MLA, a dense first layer, a shared expert, groups, YaRN) at widths of one Q4_0 block.
    public static let tinyDeepSeek = SynthShape(
        layers: 3, hidden: 64, experts: 8, topK: 2, expertFFN: 32, heads: 4, kvHeads: 4, headDim: 48, contextLength: 2048,
        deepSeek: DeepSeek(qLoraRank: 32, kvLoraRank: 32, nopeDim: 32, ropeDim: 16, valueDim: 32, sharedExperts: 1,
                           denseLayers: 1, groups: 4, groupsUsed: 2, routedScale: 2.5, yarnFactor: 4, yarnOriginalContext: 512))

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }
    /// `intermediate_size` / `feed_forward_length`: the dense FFN width, unused by an all-MoE model. Set to
    /// 8 × the expert width, as in Qwen3-30B-A3B (6144 = 8 × 768) and the tiny reference model (768 = 8 × 96).
    public var denseFFN: Int { 8 * expertFFN }

    /// Checks the numbers make a model whose rows can be stored as `type` (quantized rows need multiples of
    /// 32 elements). Returns a message naming the problem, or nil.
    public func problem(for type: TensorType) -> String? {
        let fields = [("layers", layers), ("hidden", hidden), ("experts", experts), ("top-k", topK),
                      ("expert-ffn", expertFFN), ("heads", heads), ("kv-heads", kvHeads), ("head-dim", headDim)]
        if let (name, _) = fields.first(where: { $0.1 <= 0 }) { return "--\(name) must be positive" }
        if topK > experts { return "--top-k \(topK) is more than --experts \(experts)" }
        if heads % kvHeads != 0 { return "--heads \(heads) is not a multiple of --kv-heads \(kvHeads)" }
        if headDim % 2 != 0 { return "--head-dim \(headDim) must be even (rotary pairs)" }
        let block = type.blockSize
        for (name, n) in [("hidden", hidden), ("expert-ffn", expertFFN), ("heads × head-dim", qDim)] where n % block != 0 {
            return "\(name) = \(n) is not a multiple of \(block), the \(type) block size"
        }
        if hidden > 1 << 20 || expertFFN > 1 << 20 || qDim > 1 << 20 || layers > 4096 || experts > 4096 {
            return "the shape is implausibly large"
        }
        if let d = deepSeek { return d.problem(shape: self, type: type) }
        return nil
    }
}

extension SynthShape.DeepSeek {
    /// The DeepSeek parts' own checks (see `SynthShape.problem(for:)`).
    func problem(shape s: SynthShape, type: TensorType) -> String? {
        let fields = [("kv-lora", kvLoraRank), ("nope-dim", nopeDim), ("rope-dim", ropeDim), ("value-dim", valueDim),
                      ("groups", groups), ("groups-used", groupsUsed)]
        if let (name, _) = fields.first(where: { $0.1 <= 0 }) { return "--\(name) must be positive" }
        if qLoraRank < 0 || sharedExperts < 0 || denseLayers < 0 { return "--q-lora, --shared-experts and --dense-layers must not be negative" }
        if ropeDim % 2 != 0 { return "--rope-dim \(ropeDim) must be even (rotary pairs)" }
        if s.headDim != qkDim { return "--head-dim \(s.headDim) is not nope + rope = \(qkDim)" }
        if s.kvHeads != s.heads { return "latent attention has a key per head: --kv-heads must equal --heads" }
        if denseLayers >= s.layers { return "--dense-layers \(denseLayers) leaves no MoE layer of \(s.layers)" }
        if s.experts % groups != 0 { return "--experts \(s.experts) is not a multiple of --groups \(groups)" }
        if groupsUsed > groups { return "--groups-used \(groupsUsed) is more than --groups \(groups)" }
        if s.topK > groupsUsed * (s.experts / groups) { return "--top-k \(s.topK) is more than the experts of \(groupsUsed) groups" }
        if yarnFactor < 1 || yarnOriginalContext <= 0 { return "YaRN needs a factor ≥ 1 and a positive original context" }
        // Row lengths of the stored matrices: q_b (q LoRA), attn_k_b (nope), attn_v_b (latent), attn_output (heads × value).
        let block = type.blockSize
        for (name, n) in [("q-lora", qLoraRank), ("kv-lora", kvLoraRank), ("nope-dim", nopeDim), ("heads × value-dim", s.heads * valueDim)]
            where n % block != 0 {
            return "\(name) = \(n) is not a multiple of \(block), the \(type) block size"
        }
        if kvLoraRank > 1 << 16 || qLoraRank > 1 << 16 || nopeDim > 1 << 12 || valueDim > 1 << 12 || ropeDim > 1 << 12 {
            return "the shape is implausibly large"
        }
        return nil
    }
}
