import MoEFormats
import MoEKernels

/// How the values of one canonical tensor are drawn: mean + std · N(0, 1), rounded to bfloat16 (so every
/// file type holds what a conversion of the bf16 checkpoint would hold).
public struct WeightSpec: Sendable {
    /// Canonical (GGUF) name, e.g. `blk.3.ffn_up_exps.weight`.
    public let name: String
    /// Canonical shape, outermost first: `[experts, rows, cols]` for stacked experts.
    public let shape: [Int]
    public let mean: Float
    public let std: Float
    /// Norm and router weights: kept in float32 in GGUF files, as llama.cpp's converter keeps them.
    public let keepsF32: Bool
    /// For stacked experts: the layer and projection (HF stores one tensor per expert).
    public let layer: Int?
    public let projection: ExpertProjection?
    let nameHash: UInt64

    init(_ name: String, _ shape: [Int], mean: Float = 0, std: Float, keepsF32: Bool = false,
         layer: Int? = nil, projection: ExpertProjection? = nil) {
        self.name = name
        self.shape = shape
        self.mean = mean
        self.std = std
        self.keepsF32 = keepsF32
        self.layer = layer
        self.projection = projection
        nameHash = NormalStream.nameHash(name)
    }

    public var rowLength: Int { shape.last! }
    /// Rows in all (experts × rows for stacked experts; 1 for a vector).
    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    public var elementCount: Int { shape.reduce(1, *) }

    /// Row `row` (counting across experts) of the tensor, as float32 values that are exact bfloat16 numbers.
    public func fillRow(_ row: Int, seed: UInt64, into out: UnsafeMutablePointer<Float>) {
        NormalStream.fillBF16(key: NormalStream.rowKey(seed: seed, name: nameHash, row: row), mean: mean, std: std,
                              out: out, count: rowLength)
    }
}

/// Every tensor of a synthetic Qwen3-MoE model, in canonical names and shapes, with the distribution its
/// values are drawn from (defaults of `Scales`):
/// - attention and expert projections, output head: N(0, 1/fan_in), so each output has about the variance
///   of one input element (fan_in = the row length), as real weights have (std ≈ 0.02 for fan_in 2048);
/// - token embedding: N(0, 1), and the attention output projection at a quarter of the above: the token's
///   own embedding and expert outputs then dominate the residual stream, as in trained models. (With the usual
///   0.02 embedding, the attention output, nearly the same average over positions for every token, dominates
///   after a layer or two and all tokens route to the same few experts.)
/// - RMSNorm weights (attention, FFN, q/k per head, final): 1 + 0.05 · N(0, 1);
/// - router: N(0, (2/√hidden)²): logits of std ≈ 2 over the experts, so each token has a few clear
///   favourites, the favourites differ from token to token and the load spreads over all experts
///   (measured by `RoutingSpread`: the busiest expert gets < 2× its fair share on 48 layers).
///
/// A DeepSeek-V3 shape (`shape.deepSeek`) has llama.cpp's `deepseek2` tensors instead: attn_q_a, its norm and
/// attn_q_b (or attn_q without a q LoRA), attn_kv_a_mqa and its norm, attn_k_b and attn_v_b (the absorbed
/// up-projections, 3-D), attn_output; dense layers' ffn_{gate,up,down}; MoE layers' router, experts,
/// `exp_probs_b.bias` (F32) and shared experts ffn_{gate,up,down}_shexp. Same rules: projections N(0,
/// 1/fan_in) (attn_k_b's fan-in is the latent width), norms 1 + 0.05 · N(0, 1), the correction bias N(0, 0.05²).
public struct SynthPlan: Sendable {
    /// The standard deviations the weights are drawn with.
    public struct Scales: Sendable {
        public var embedding: Float = 1
        public var norm: Float = 0.05
        /// Router std × √hidden: the std of the router logits for a normalised input.
        public var routerGain: Float = 2
        /// Attention output projection std × √(heads · headDim).
        public var attentionOutputGain: Float = 0.25
        /// Expert down projection std × √(expert FFN).
        public var expertDownGain: Float = 1
        public init() {}
    }

    public let shape: SynthShape
    public let vocab: Int
    public let scales: Scales
    public let weights: [WeightSpec]

    public init(shape s: SynthShape, vocab: Int, scales k: Scales = Scales()) {
        shape = s
        self.vocab = vocab
        scales = k
        var w: [WeightSpec] = []
        func linear(_ name: String, _ rows: Int, _ cols: Int, gain: Float = 1) {
            w.append(WeightSpec(name, [rows, cols], std: gain / Float(cols).squareRoot()))
        }
        func norm(_ name: String, _ n: Int) {
            w.append(WeightSpec(name, [n], mean: 1, std: k.norm, keepsF32: true))
        }
        w.append(WeightSpec(TensorName.tokenEmbedding, [vocab, s.hidden], std: k.embedding))
        func experts(_ l: Int) {
            w.append(WeightSpec(TensorName.block(l, "ffn_gate_inp.weight"), [s.experts, s.hidden],
                                std: k.routerGain / Float(s.hidden).squareRoot(), keepsF32: true))
            for p in ExpertProjection.allCases {
                let (rows, cols) = p == .down ? (s.hidden, s.expertFFN) : (s.expertFFN, s.hidden)
                let gain = p == .down ? k.expertDownGain : 1
                w.append(WeightSpec(TensorName.experts(l, p), [s.experts, rows, cols], std: gain / Float(cols).squareRoot(),
                                    layer: l, projection: p))
            }
        }
        /// A gated FFN (dense layer or shared experts) of `width`, named `ffn_{gate,up,down}<suffix>`.
        func ffn(_ l: Int, _ suffix: String, width: Int) {
            linear(TensorName.block(l, "ffn_gate\(suffix).weight"), width, s.hidden)
            linear(TensorName.block(l, "ffn_up\(suffix).weight"), width, s.hidden)
            linear(TensorName.block(l, "ffn_down\(suffix).weight"), s.hidden, width, gain: k.expertDownGain)
        }
        if let d = s.deepSeek {
            for l in 0 ..< s.layers {
                let b = { TensorName.block(l, $0) }
                norm(b("attn_norm.weight"), s.hidden)
                if d.qLoraRank > 0 {
                    linear(b("attn_q_a.weight"), d.qLoraRank, s.hidden)
                    norm(b("attn_q_a_norm.weight"), d.qLoraRank)
                    linear(b("attn_q_b.weight"), s.heads * d.qkDim, d.qLoraRank)
                } else {
                    linear(b("attn_q.weight"), s.heads * d.qkDim, s.hidden)
                }
                linear(b("attn_kv_a_mqa.weight"), d.kvLoraRank + d.ropeDim, s.hidden)
                norm(b("attn_kv_a_norm.weight"), d.kvLoraRank)
                // attn_k_b holds kv_b_proj's key rows transposed per head ([heads, latent, nope]): its fan-in is
                // the latent (the key is k_b[h]ᵀ · c), not its row length.
                w.append(WeightSpec(b("attn_k_b.weight"), [s.heads, d.kvLoraRank, d.nopeDim], std: 1 / Float(d.kvLoraRank).squareRoot()))
                w.append(WeightSpec(b("attn_v_b.weight"), [s.heads, d.valueDim, d.kvLoraRank], std: 1 / Float(d.kvLoraRank).squareRoot()))
                linear(b("attn_output.weight"), s.hidden, s.heads * d.valueDim, gain: k.attentionOutputGain)
                norm(b("ffn_norm.weight"), s.hidden)
                if l < d.denseLayers {
                    ffn(l, "", width: s.denseFFN)
                } else {
                    experts(l)
                    // The selection-only correction bias: small beside the sigmoid scores' spread (≈ 0.4 for
                    // router logits of std 2), so it shifts close choices only, as a trained one does.
                    w.append(WeightSpec(b("exp_probs_b.bias"), [s.experts], std: k.norm, keepsF32: true))
                    if d.sharedExperts > 0 { ffn(l, "_shexp", width: d.sharedExperts * s.expertFFN) }
                }
            }
            norm(TensorName.outputNorm, s.hidden)
            linear(TensorName.output, vocab, s.hidden)
            weights = w
            return
        }
        for l in 0 ..< s.layers {
            let b = { TensorName.block(l, $0) }
            norm(b("attn_norm.weight"), s.hidden)
            linear(b("attn_q.weight"), s.qDim, s.hidden)
            linear(b("attn_k.weight"), s.kvDim, s.hidden)
            linear(b("attn_v.weight"), s.kvDim, s.hidden)
            linear(b("attn_output.weight"), s.hidden, s.qDim, gain: k.attentionOutputGain)
            norm(b("attn_q_norm.weight"), s.headDim)
            norm(b("attn_k_norm.weight"), s.headDim)
            norm(b("ffn_norm.weight"), s.hidden)
            experts(l)
        }
        norm(TensorName.outputNorm, s.hidden)
        linear(TensorName.output, vocab, s.hidden)
        weights = w
    }

    public var parameterCount: Int { weights.reduce(0) { $0 + $1.elementCount } }
    /// Parameters in routed experts, and those every token uses (everything else).
    public var expertParameterCount: Int { weights.filter { $0.projection != nil }.reduce(0) { $0 + $1.elementCount } }
    /// Parameters one token touches: everything but the experts, plus top-k of them per layer.
    public var activeParameterCount: Int {
        parameterCount - expertParameterCount + expertParameterCount / shape.experts * shape.topK
    }
}

/// One tensor as a file stores it: its name, type and shape there, and the rows of a `WeightSpec` it holds
/// (all of them, or one expert's in a Hugging Face checkpoint).
public struct FileTensor: Sendable {
    public let name: String
    public let type: TensorType
    public let shape: [Int]
    public let spec: WeightSpec
    /// The spec's row this tensor starts at.
    public let firstRow: Int
    /// Values pass through f16 before being stored (F32 norms of an F16 GGUF: what converting the F16
    /// safetensors folder gives).
    public var throughF16 = false

    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    public var rowBytes: Int { type.byteCount(elements: spec.rowLength)! }
    public var byteCount: Int { rowCount * rowBytes }

    /// The tensors of a GGUF file of `type`, as llama.cpp's converter and `llama-quantize` lay them out:
    /// norms and routers F32 (holding f16 values when `type` is F16); token embedding, attention and experts
    /// in `type`; the output head in `type`, except Q8_0 for the 4-bit types (llama-quantize uses Q6_K there,
    /// which has no quantizer here).
    public static func gguf(_ plan: SynthPlan, type: TensorType) -> [FileTensor] {
        plan.weights.map { w in
            let t: TensorType
            if w.keepsF32 { t = .f32 } else if w.name == TensorName.output, type == .q4_0 || type == .q4_1 { t = .q8_0 } else { t = type }
            var f = FileTensor(name: w.name, type: t, shape: w.shape, spec: w, firstRow: 0)
            f.throughF16 = w.keepsF32 && type == .f16
            return f
        }
    }

    /// The tensors of a Hugging Face checkpoint (`type` F32, F16 or BF16 throughout): HF names, one tensor per expert.
    public static func huggingFace(_ plan: SynthPlan, type: TensorType) -> [FileTensor] {
        let naming = HFNaming.standard
        return plan.weights.flatMap { w -> [FileTensor] in
            guard let layer = w.layer, let p = w.projection else {
                return [FileTensor(name: naming.hfName(for: w.name)!, type: type, shape: w.shape, spec: w, firstRow: 0)]
            }
            let rows = w.shape[1]
            return (0 ..< w.shape[0]).map { e in
                FileTensor(name: naming.expert(layer, e, p), type: type, shape: [rows, w.shape[2]], spec: w, firstRow: e * rows)
            }
        }
    }
}
