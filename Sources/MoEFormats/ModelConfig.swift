/// One description of a model — layers, shapes, attention and routing rules — whatever file it came from.
/// Filled by an `ArchitectureSpec` from a Hugging Face `config.json` or from GGUF metadata.
public struct ModelConfig: Sendable, Equatable {
    /// Rotary embedding layout. `.neox` rotates pairs (i, i + headDim/2) (HF's rotate_half);
    /// `.interleaved` rotates pairs (2i, 2i+1), which is what llama.cpp's `llama` GGUF files expect
    /// because its converter permutes the q/k weights.
    public enum RopeStyle: String, Sendable { case neox, interleaved }
    /// Where q/k RMSNorm applies: per head over `headDim` (Qwen3), over the whole projection (OLMoE), or not at all.
    public enum QKNorm: String, Sendable { case none, perHead, whole }

    public var architecture: String           // registry key, e.g. "qwen3_moe"
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    /// Experts per MoE layer, experts chosen per token, and each expert's FFN width.
    public var expertCount: Int
    public var expertsPerToken: Int
    public var expertFFN: Int
    /// Width of a shared expert (Qwen2-MoE) applied to every token, 0 when absent. It has a sigmoid gate.
    public var sharedExpertFFN: Int
    /// FFN width of dense (non-MoE) layers, and which layers are dense.
    public var denseFFN: Int
    public var denseLayers: Set<Int>
    /// Routing rule: softmax over all experts' logits, take top-k, then renormalise the k weights to sum 1 if set.
    /// (Mixtral's "softmax over the top-k logits" is the same as softmax-all + renormalise.)
    public var normTopKProb: Bool
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeStyle: RopeStyle
    public var qkNorm: QKNorm
    /// q, k, v projections carry biases (Qwen2-MoE).
    public var attentionBias: Bool
    /// OLMoE's optional clamp of q, k, v to ±clip.
    public var clipQKV: Float?
    public var tieWordEmbeddings: Bool
    public var maxPositions: Int
    public var eosTokenId: Int?
    public var bosTokenId: Int?

    // Building blocks beyond the Llama-family defaults (see Blocks.swift). Every field has the default
    // that leaves the four original architectures unchanged.
    /// Multi-head latent attention (DeepSeek-V2/V3) instead of grouped-query attention.
    public var latentAttention: LatentAttention?
    /// Rotary dimensions per head (the first `rotaryDim` of each head; GLM rotates half). nil: the whole head.
    public var partialRotaryDim: Int?
    /// YaRN context extension of the rotary frequencies, nil for plain rotary.
    public var yarn: YaRN?
    /// Factor on the attention softmax scale 1/√d (DeepSeek-V3's YaRN mscale², 1 elsewhere).
    public var attentionScaleFactor: Float = 1
    /// How the router turns logits into the chosen experts and their weights (softmax top-k by default).
    public var routing = RoutingRule()
    /// Whether the shared expert's output is scaled by sigmoid(gate · x) (Qwen2-MoE) or added as is (DeepSeek, GLM, ERNIE).
    public var sharedExpertGated = true
    /// One learned logit per head that joins each softmax's denominator (gpt-oss's attention sinks).
    public var attentionSinks = false
    /// Sliding-window attention on some layers (gpt-oss: every other layer), nil: every layer sees the whole context.
    public var slidingWindow: SlidingWindow?
    /// The attention output projection has a bias (gpt-oss).
    public var attentionOutputBias = false
    /// The router is a linear layer with a bias added to its logits before anything else (gpt-oss).
    public var routerLogitBias = false
    /// Routed experts' gate, up and down projections have biases (gpt-oss).
    public var expertBiases = false
    /// The FFN activation (experts, shared experts, dense FFNs).
    public var activation: FFNActivation = .swiglu

    /// Rotary dimensions per head (MLA: the decoupled rotary part).
    public var rotaryDim: Int { latentAttention?.ropeDim ?? partialRotaryDim ?? headDim }
    /// Floats per token and layer in the KV cache: keys and values of the KV heads, or MLA's compressed latent
    /// plus the shared rotary key (no separate values).
    public var kvCacheWidth: (key: Int, value: Int) {
        if let m = latentAttention { return (m.kvLoraRank + m.ropeDim, 0) }
        return (kvHeadCount * headDim, kvHeadCount * headDim)
    }
    /// KV cache bytes each further token of a long context costs (float32, the full-attention layers; a
    /// sliding-window layer's cache stops growing at its window, `kvWindowBytes`).
    public var kvBytesPerToken: Int { (layerCount - windowLayerCount) * (kvCacheWidth.key + kvCacheWidth.value) * 4 }
    /// Layers whose KV cache is a ring of the sliding window (MLA caches every position).
    public var windowLayerCount: Int {
        guard let w = slidingWindow, latentAttention == nil else { return 0 }
        return w.layers.filter { $0 >= 0 && $0 < layerCount }.count
    }
    /// KV cache rows (positions) layer `l` keeps for a context of `context` positions filled up to `maxBatch`
    /// at a time: all of them, or on a sliding-window layer a ring of window + maxBatch - 1 (the batch's first
    /// token still sees the window before it while the batch's keys are written).
    public func kvSlots(layer l: Int, context: Int, maxBatch: Int) -> Int {
        guard let w = slidingWindow, latentAttention == nil, w.layers.contains(l) else { return context }
        return min(context, w.window + max(maxBatch, 1) - 1)
    }
    /// Bytes of the sliding-window layers' rings for batches of `maxBatch` tokens (float32), whatever the context.
    public func kvWindowBytes(maxBatch: Int) -> Int {
        guard let w = slidingWindow, windowLayerCount > 0 else { return 0 }
        return windowLayerCount * (w.window + max(maxBatch, 1) - 1) * (kvCacheWidth.key + kvCacheWidth.value) * 4
    }
    /// Width of the attention output that o_proj reads: heads × value width.
    public var attentionOutputWidth: Int { headCount * (latentAttention?.valueDim ?? headDim) }
    /// Width of the query projection: heads × query width per head.
    public var queryWidth: Int { headCount * (latentAttention?.qkDim ?? headDim) }

    public init(architecture: String, vocabSize: Int, hiddenSize: Int, layerCount: Int, headCount: Int,
                kvHeadCount: Int, headDim: Int, expertCount: Int, expertsPerToken: Int, expertFFN: Int,
                sharedExpertFFN: Int = 0, denseFFN: Int = 0, denseLayers: Set<Int> = [],
                normTopKProb: Bool, rmsNormEps: Float, ropeTheta: Float, ropeStyle: RopeStyle = .neox,
                qkNorm: QKNorm = .none, attentionBias: Bool = false, clipQKV: Float? = nil,
                tieWordEmbeddings: Bool = false, maxPositions: Int = 4096, eosTokenId: Int? = nil, bosTokenId: Int? = nil) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.expertCount = expertCount
        self.expertsPerToken = expertsPerToken
        self.expertFFN = expertFFN
        self.sharedExpertFFN = sharedExpertFFN
        self.denseFFN = denseFFN
        self.denseLayers = denseLayers
        self.normTopKProb = normTopKProb
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeStyle = ropeStyle
        self.qkNorm = qkNorm
        self.attentionBias = attentionBias
        self.clipQKV = clipQKV
        self.tieWordEmbeddings = tieWordEmbeddings
        self.maxPositions = maxPositions
        self.eosTokenId = eosTokenId
        self.bosTokenId = bosTokenId
    }

    public func isMoELayer(_ layer: Int) -> Bool { !denseLayers.contains(layer) }

    /// Upper limits on a model's numbers, far above any real model. A corrupt value beyond them would otherwise
    /// overflow a product (heads × head size, layers × context × KV width) or drive a huge allocation or loop.
    public static let maxWidth = 1 << 20          // hidden size, head size, FFN widths, heads × head size
    public static let maxVocabulary = 1 << 24
    public static let maxCount = 1 << 16          // layers, heads, experts

    /// Checks the numbers make a model; `path` names the file in the error.
    public func validate(path: String) throws {
        func bad(_ what: String) -> FormatError { .malformed(path: path, what: what) }
        for (name, value, limit) in [("vocabulary size", vocabSize, Self.maxVocabulary), ("hidden size", hiddenSize, Self.maxWidth),
                                     ("layer count", layerCount, Self.maxCount), ("attention head count", headCount, Self.maxCount),
                                     ("KV head count", kvHeadCount, Self.maxCount), ("head dimension", headDim, Self.maxWidth)] {
            guard value > 0, value <= limit else { throw bad("\(name) \(value) is not in 1…\(limit)") }
        }
        guard headCount % kvHeadCount == 0 else { throw bad("\(headCount) attention heads not divisible by \(kvHeadCount) KV heads") }
        guard headDim % 2 == 0 else { throw bad("head dimension \(headDim) is odd") }
        if let p = partialRotaryDim, p <= 0 || p > headDim || p % 2 != 0 {
            throw bad("rotary dimension \(p) is not an even number in 2…\(headDim) (partial_rotary_factor)")
        }
        if let m = latentAttention { try m.validate(path: path) }
        try routing.validate(experts: expertCount, k: expertsPerToken, path: path)
        if let y = yarn { try y.validate(path: path) }
        try activation.validate(path: path)
        if let w = slidingWindow, w.window < 1 { throw bad("sliding window \(w.window) is not positive") }
        guard headCount * headDim <= Self.maxWidth else { throw bad("\(headCount) heads × \(headDim) is wider than \(Self.maxWidth)") }
        for (name, value) in [("expert FFN width", expertFFN), ("shared expert FFN width", sharedExpertFFN), ("dense FFN width", denseFFN)] {
            guard value >= 0, value <= Self.maxWidth else { throw bad("\(name) \(value) is not in 0…\(Self.maxWidth)") }
        }
        guard expertCount >= 0, expertCount <= Self.maxCount else { throw bad("expert count \(expertCount) is not in 0…\(Self.maxCount)") }
        if denseLayers.count < layerCount {
            guard expertCount > 0, expertsPerToken > 0, expertsPerToken <= expertCount, expertFFN > 0 else {
                throw bad("MoE layers need 0 < experts per token (\(expertsPerToken)) ≤ experts (\(expertCount)) and an expert FFN width")
            }
        }
        if !denseLayers.isEmpty, denseFFN <= 0 { throw bad("dense layers \(denseLayers.sorted().prefix(8)) need an FFN width (intermediate_size)") }
        guard rmsNormEps > 0, rmsNormEps.isFinite, ropeTheta > 0, ropeTheta.isFinite else {
            throw bad("rms_norm_eps (\(rmsNormEps)) and rope theta (\(ropeTheta)) must be positive and finite")
        }
        guard maxPositions > 0 else { throw bad("context length \(maxPositions) is not positive") }
        for (name, id) in [("eos", eosTokenId), ("bos", bosTokenId)] {
            if let id, !(0 ..< vocabSize).contains(id) { throw bad("\(name) token id \(id) is outside the vocabulary of \(vocabSize)") }
        }
    }
}
