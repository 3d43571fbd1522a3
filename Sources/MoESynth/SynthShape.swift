import MoEFormats

/// The dimensions of a synthetic Qwen3-MoE model. Every layer is an MoE layer (no dense layers, no shared
/// expert), q/k RMSNorm per head, untied output head, as in Qwen3-30B-A3B.
public struct SynthShape: Sendable, Equatable {
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

    public init(layers: Int, hidden: Int, experts: Int, topK: Int, expertFFN: Int, heads: Int, kvHeads: Int, headDim: Int,
                contextLength: Int = 4096, ropeTheta: Double = 10_000, rmsNormEps: Double = 1e-6) {
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
    }

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
        return nil
    }
}
