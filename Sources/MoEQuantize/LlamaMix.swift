import MoEFormats

/// llama-quantize's named mixes (llama.cpp src/llama-quant.cpp, `llama_tensor_get_type_impl`), restated: which type
/// each tensor gets from its name, its layer and the model's shape. The row-length fallback (`tensor_type_fallback`)
/// is `TypeRules.fallbackChain`. Only the rules that apply to these five mixes are kept; Falcon's and the 70B-only
/// rules are left out (neither architecture is MoE).
public enum LlamaMix: String, Sendable, CaseIterable {
    case q2_K = "Q2_K"
    case q3_K_M = "Q3_K_M"
    case q4_K_M = "Q4_K_M"
    case q5_K_M = "Q5_K_M"
    /// Routed experts (3-D tensors with more than one expert) MXFP4, every other matrix Q8_0, output head Q8_0.
    case mxfp4MoE = "MXFP4_MOE"

    /// What the mix needs to know of the model.
    public struct Model: Sendable, Equatable {
        /// Transformer layers (llama.cpp's n_layer_all): ffn_down's use_more_bits and n/16 tests.
        public var layers = 0
        /// Routed experts per layer: Mixtral-style 8-expert models get wider attention types.
        public var experts = 0
        /// Query heads per key/value head.
        public var gqa = 1
        /// Layers having an attn_v-like tensor (attn_v, attn_qkv, attn_kv_b), in order: llama-quantize counts those
        /// tensors, and use_more_bits is applied to the tensor's rank among them.
        public var attentionVLayers: [Int] = []
        /// Whether the model has its own `output.weight`; without one the token embedding is the output head
        /// (tied embeddings) and gets the output's type.
        public var hasOutput = true

        public init() {}
    }

    /// The type the mix is named after (llama-quantize's default type for it).
    public var baseType: TensorType {
        switch self {
        case .q2_K: return .q2_K
        case .q3_K_M: return .q3_K
        case .q4_K_M: return .q4_K
        case .q5_K_M: return .q5_K
        case .mxfp4MoE: return .mxfp4
        }
    }

    /// `general.file_type` (llama_ftype) of a file in this mix.
    public var fileTypeNumber: Int {
        switch self {
        case .q2_K: return 10
        case .q3_K_M: return 12
        case .q4_K_M: return 15
        case .q5_K_M: return 17
        case .mxfp4MoE: return 38
        }
    }

    /// llama.cpp's use_more_bits: the first and last eighth of the layers and every third layer between.
    static func useMoreBits(_ i: Int, _ n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    enum Category { case output, tokenEmbedding, attentionV, attentionK, attentionQ, attentionOutput, ffnUp, ffnGate, ffnDown, other }

    /// llama-quantize's tensor_get_category: by name, the first match in this order.
    static func category(_ name: String) -> Category {
        if name == TensorName.output { return .output }
        if name == TensorName.tokenEmbedding || name == "per_layer_token_embd.weight" { return .tokenEmbedding }
        if name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight") || name.contains("attn_v.weight") { return .attentionV }
        if name.contains("attn_k.weight") { return .attentionK }
        if name.contains("attn_q.weight") { return .attentionQ }
        if name.contains("attn_output.weight") { return .attentionOutput }
        if name.contains("ffn_up") { return .ffnUp }
        if name.contains("ffn_gate") { return .ffnGate }
        if name.contains("ffn_down") { return .ffnDown }
        return .other
    }

    static func layer(of name: String) -> Int? {
        let parts = name.split(separator: ".")
        guard parts.count > 2, parts[0] == "blk" else { return nil }
        return Int(parts[1])
    }

    /// The mix's type for a quantizable matrix (not a norm, bias or router), before the row-length fallback.
    public func type(name: String, shape: [Int], model: Model) -> TensorType {
        let base = baseType
        let cat = Self.category(name)
        let rowLength = shape.last ?? 1
        if cat == .output || (cat == .tokenEmbedding && !model.hasOutput) {
            if self == .mxfp4MoE || rowLength % base.blockSize != 0 { return .q8_0 }
            return .q6_K
        }
        if self == .mxfp4MoE { return shape.count == 3 && shape[0] > 1 ? .mxfp4 : .q8_0 }
        let layer = Self.layer(of: name) ?? 0
        switch cat {
        case .attentionV:
            let n = model.attentionVLayers.count
            let i = model.attentionVLayers.firstIndex(of: layer) ?? layer
            var t = base
            switch self {
            case .q2_K: t = model.gqa >= 4 ? .q4_K : .q3_K
            case .q3_K_M: t = i < 2 ? .q5_K : .q4_K
            case .q4_K_M, .q5_K_M: if Self.useMoreBits(i, n) { t = .q6_K }
            case .mxfp4MoE: break
            }
            return model.experts == 8 ? .q8_0 : t
        case .attentionK:
            return model.experts == 8 ? .q8_0 : base
        case .ffnDown:
            let n = model.layers
            switch self {
            case .q2_K: return .q3_K
            case .q3_K_M: return layer < n / 16 ? .q5_K : .q4_K
            case .q4_K_M, .q5_K_M: return Self.useMoreBits(layer, n) ? .q6_K : base
            case .mxfp4MoE: return base
            }
        case .attentionOutput:
            if model.experts == 8 { return [.q2_K, .q3_K_M, .q4_K_M].contains(self) ? .q5_K : base }
            switch self {
            case .q2_K: return .q3_K
            case .q3_K_M: return .q4_K
            default: return base
            }
        default:
            return base
        }
    }
}
