import MoEFormats
import MoEKernels
import MoEStore

/// One expert's SwiGLU FFN: down(silu(gate · x) ⊙ (up · x)).
public struct ExpertWeights: Sendable {
    public let gate: WeightMatrix   // [ffn, hidden]
    public let up: WeightMatrix     // [ffn, hidden]
    public let down: WeightMatrix   // [hidden, ffn]
}

/// A decoder layer's weights, resolved and shape-checked once at load. Matrices are views into the mapped
/// files; only the small vectors (norms, biases) are copied, widened to float32.
public struct LayerWeights: Sendable {
    public let attnNorm: [Float]          // [hidden]
    /// Exactly one of `grouped` and `latent` is set, as the config's attention block says.
    public let grouped: GroupedAttentionWeights?
    public let latent: LatentAttentionWeights?
    public let ffnNorm: [Float]           // [hidden]
    public let router: WeightMatrix?      // [experts, hidden]; nil for a dense layer
    /// Added to the router's scores for the choice of experts only (DeepSeek-V3, GLM, ERNIE), [experts].
    public let routerBias: [Float]?
    /// Added to the router's logits before anything else (gpt-oss's router is a linear layer with a bias), [experts].
    public let routerLogitBias: [Float]?
    /// Per-expert biases of the routed experts (gpt-oss).
    public let expertBiases: ExpertBiases?
    public let experts: [ExpertWeights]   // [experts]
    /// Every expert's gate, up and down have the types of expert 0's (always so for stacked GGUF tensors
    /// and safetensors folders), so one quantized copy of an input serves them all.
    public let expertTypesUniform: Bool
    public let shared: ExpertWeights?     // shared expert(s), [sharedFFN, hidden] / [hidden, sharedFFN]
    public let sharedGate: WeightMatrix?  // [1, hidden] (Qwen2-MoE); nil when the shared expert is ungated
    public let dense: ExpertWeights?      // dense FFN for non-MoE layers, [denseFFN, hidden] / [hidden, denseFFN]

    /// `repack`: which matrices get rows repacked (`RepackPolicy`, `WeightMatrix.withRepackedRows`).
    /// `resident`: non-expert matrices are copied into memory (experts offloaded); the expert views then only
    /// describe types and shapes, and their bytes come from the expert cache.
    init(store: WeightStore, layer l: Int, repack: RepackPolicy = .none, resident: ResidentWeights? = nil) throws {
        let c = store.config
        func mat(_ w: WeightMatrix) throws -> WeightMatrix {
            let m = try resident?.copy(w) ?? w
            switch repack {
            case .none: return m
            case .replacing: return resident == nil ? try m.withRepackedRows(servingAllOnly: true) : m   // (a resident copy would be doubled)
            case .all: return try m.withRepackedRows()
            }
        }
        func expert(_ w: WeightMatrix) throws -> WeightMatrix { resident == nil ? try mat(w) : w }
        let h = c.hiddenSize
        func name(_ part: String) -> String { TensorName.block(l, part) }
        attnNorm = try store.vector(name("attn_norm.weight"), count: h)
        if let mla = c.latentAttention {
            latent = try LatentAttentionWeights(store: store, layer: l, config: c, mla: mla, mat: mat)
            grouped = nil
        } else {
            grouped = try GroupedAttentionWeights(store: store, layer: l, config: c, mat: mat)
            latent = nil
        }
        ffnNorm = try store.vector(name("ffn_norm.weight"), count: h)
        if c.isMoELayer(l) {
            let r = try store.matrix(name("ffn_gate_inp.weight"), rows: c.expertCount, cols: h)
            router = try resident?.copy(r) ?? r
            routerBias = c.routing.selectionBias ? try store.vector(name("exp_probs_b.bias"), count: c.expertCount) : nil
            routerLogitBias = c.routerLogitBias ? try store.vector(name("ffn_gate_inp.bias"), count: c.expertCount) : nil
            expertBiases = c.expertBiases ? try ExpertBiases(
                gate: store.floats(name("ffn_gate_exps.bias"), shape: [c.expertCount, c.expertFFN]),
                up: store.floats(name("ffn_up_exps.bias"), shape: [c.expertCount, c.expertFFN]),
                down: store.floats(name("ffn_down_exps.bias"), shape: [c.expertCount, h])) : nil
            experts = try (0 ..< c.expertCount).map { e in
                ExpertWeights(gate: try expert(store.expertMatrix(layer: l, expert: e, .gate)),
                              up: try expert(store.expertMatrix(layer: l, expert: e, .up)),
                              down: try expert(store.expertMatrix(layer: l, expert: e, .down)))
            }
            dense = nil
        } else {
            router = nil
            routerBias = nil
            routerLogitBias = nil
            expertBiases = nil
            experts = []
            dense = ExpertWeights(gate: try mat(store.matrix(name("ffn_gate.weight"), rows: c.denseFFN, cols: h)),
                                  up: try mat(store.matrix(name("ffn_up.weight"), rows: c.denseFFN, cols: h)),
                                  down: try mat(store.matrix(name("ffn_down.weight"), rows: h, cols: c.denseFFN)))
        }
        let all = experts
        expertTypesUniform = all.allSatisfy {
            $0.gate.type == all[0].gate.type && $0.up.type == all[0].up.type && $0.down.type == all[0].down.type
        }
        if c.sharedExpertFFN > 0, c.isMoELayer(l) {
            let s = c.sharedExpertFFN
            shared = ExpertWeights(gate: try mat(store.matrix(name("ffn_gate_shexp.weight"), rows: s, cols: h)),
                                   up: try mat(store.matrix(name("ffn_up_shexp.weight"), rows: s, cols: h)),
                                   down: try mat(store.matrix(name("ffn_down_shexp.weight"), rows: h, cols: s)))
            if c.sharedExpertGated {
                let g = try store.matrix(name("ffn_gate_inp_shexp.weight"), rows: 1, cols: h)
                sharedGate = try resident?.copy(g) ?? g
            } else {
                sharedGate = nil
            }
        } else {
            shared = nil
            sharedGate = nil
        }
    }
}

/// The routed experts' biases, expert-major: expert x's gate bias is `gate[x * ffn ..< (x + 1) * ffn]`.
public struct ExpertBiases: Sendable {
    public let gate: [Float]   // [experts, ffn]
    public let up: [Float]     // [experts, ffn]
    public let down: [Float]   // [experts, hidden]
}

/// Grouped-query attention: q, k, v projections (biases where present), optional q/k RMSNorm, output projection.
public struct GroupedAttentionWeights: Sendable {
    public let wq: WeightMatrix           // [heads * headDim, hidden]
    public let wk: WeightMatrix           // [kvHeads * headDim, hidden]
    public let wv: WeightMatrix           // [kvHeads * headDim, hidden]
    public let wo: WeightMatrix           // [hidden, heads * headDim]
    public let bq: [Float]?               // [heads * headDim]   (Qwen2-MoE, GLM)
    public let bk: [Float]?               // [kvHeads * headDim]
    public let bv: [Float]?               // [kvHeads * headDim]
    public let qNorm: [Float]?            // [headDim] per head, or [heads * headDim] whole (OLMoE)
    public let kNorm: [Float]?            // [headDim] or [kvHeads * headDim]
    public let bo: [Float]?               // [hidden] (gpt-oss)
    public let sinks: [Float]?            // [heads]: each head's sink logit (gpt-oss)

    init(store: WeightStore, layer l: Int, config c: ModelConfig, mat: (WeightMatrix) throws -> WeightMatrix) throws {
        let h = c.hiddenSize, qDim = c.headCount * c.headDim, kvDim = c.kvHeadCount * c.headDim
        func name(_ part: String) -> String { TensorName.block(l, part) }
        wq = try mat(store.matrix(name("attn_q.weight"), rows: qDim, cols: h))
        wk = try mat(store.matrix(name("attn_k.weight"), rows: kvDim, cols: h))
        wv = try mat(store.matrix(name("attn_v.weight"), rows: kvDim, cols: h))
        wo = try mat(store.matrix(name("attn_output.weight"), rows: h, cols: qDim))
        if c.attentionBias {
            bq = try store.vector(name("attn_q.bias"), count: qDim)
            bk = try store.vector(name("attn_k.bias"), count: kvDim)
            bv = try store.vector(name("attn_v.bias"), count: kvDim)
        } else {
            (bq, bk, bv) = (nil, nil, nil)
        }
        bo = c.attentionOutputBias ? try store.vector(name("attn_output.bias"), count: h) : nil
        sinks = c.attentionSinks ? try store.vector(name("attn_sinks.weight"), count: c.headCount) : nil
        switch c.qkNorm {
        case .none: (qNorm, kNorm) = (nil, nil)
        case .perHead:
            qNorm = try store.vector(name("attn_q_norm.weight"), count: c.headDim)
            kNorm = try store.vector(name("attn_k_norm.weight"), count: c.headDim)
        case .whole:
            qNorm = try store.vector(name("attn_q_norm.weight"), count: qDim)
            kNorm = try store.vector(name("attn_k_norm.weight"), count: kvDim)
        }
    }
}
