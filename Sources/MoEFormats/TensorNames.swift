/// Tensor names, translated between GGUF (the canonical names used throughout the engine) and
/// Hugging Face checkpoints — in this one place.
public enum ExpertProjection: String, Sendable, CaseIterable {
    case gate, up, down
}

/// Canonical (GGUF) names of a model's tensors.
public enum TensorName {
    public static let tokenEmbedding = "token_embd.weight"
    public static let outputNorm = "output_norm.weight"
    public static let output = "output.weight"
    public static func block(_ layer: Int, _ part: String) -> String { "blk.\(layer).\(part)" }
    /// The stacked expert tensor of a layer: shape [experts, rows, cols].
    public static func experts(_ layer: Int, _ p: ExpertProjection) -> String { "blk.\(layer).ffn_\(p.rawValue)_exps.weight" }
}

/// How one architecture names its tensors in Hugging Face checkpoints.
public struct HFNaming: Sendable {
    /// Prefix of the MoE block inside a layer: "mlp" (Qwen, OLMoE) or "block_sparse_moe" (Mixtral).
    public var moeBlock: String
    /// Expert projection names: ("gate_proj","up_proj","down_proj") or Mixtral's ("w1","w3","w2").
    public var gate: String, up: String, down: String
    /// The shared expert's module: "shared_expert" (Qwen2-MoE) or "shared_experts" (DeepSeek, GLM, ERNIE).
    public var sharedExpert = "shared_expert"
    /// The router's selection bias (`exp_probs_b.bias` in GGUF), under the MoE block.
    public var selectionBias = "gate.e_score_correction_bias"
    /// The router's module under the MoE block: "gate", or gpt-oss's "router".
    public var router = "gate"

    public init(moeBlock: String, gate: String, up: String, down: String, sharedExpert: String = "shared_expert",
                selectionBias: String = "gate.e_score_correction_bias", router: String = "gate") {
        (self.moeBlock, self.gate, self.up, self.down) = (moeBlock, gate, up, down)
        (self.sharedExpert, self.selectionBias, self.router) = (sharedExpert, selectionBias, router)
    }

    public static let standard = HFNaming(moeBlock: "mlp", gate: "gate_proj", up: "up_proj", down: "down_proj")
    public static let mixtral = HFNaming(moeBlock: "block_sparse_moe", gate: "w1", up: "w3", down: "w2")
    /// DeepSeek-V2/V3 and GLM-4.5: `mlp.shared_experts`, `mlp.gate.e_score_correction_bias`.
    public static let deepseek = HFNaming(moeBlock: "mlp", gate: "gate_proj", up: "up_proj", down: "down_proj",
                                          sharedExpert: "shared_experts")
    /// ERNIE-4.5: DeepSeek's names, with the selection bias in `mlp.moe_statics`.
    public static let ernie = HFNaming(moeBlock: "mlp", gate: "gate_proj", up: "up_proj", down: "down_proj",
                                       sharedExpert: "shared_experts", selectionBias: "moe_statics.e_score_correction_bias")
    /// gpt-oss: `mlp.router`, `self_attn.sinks`; its stacked experts come from `GptOss.derivedTensors`.
    public static let gptOss = HFNaming(moeBlock: "mlp", gate: "gate_proj", up: "up_proj", down: "down_proj", router: "router")

    func projection(_ p: ExpertProjection) -> String {
        switch p { case .gate: return gate; case .up: return up; case .down: return down }
    }

    /// HF name of expert `e`'s projection in `layer`.
    public func expert(_ layer: Int, _ e: Int, _ p: ExpertProjection) -> String {
        "model.layers.\(layer).\(moeBlock).experts.\(e).\(projection(p)).weight"
    }

    /// HF name for a canonical non-expert tensor name, or nil if the name is unknown.
    public func hfName(for canonical: String) -> String? {
        switch canonical {
        case TensorName.tokenEmbedding: return "model.embed_tokens.weight"
        case TensorName.outputNorm: return "model.norm.weight"
        case TensorName.output: return "lm_head.weight"
        default: break
        }
        let parts = canonical.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let rest = parts[2]  // e.g. "attn_q.weight"
        let dot = rest.lastIndex(of: ".")!
        let base = String(rest[..<dot]), suffix = String(rest[rest.index(after: dot)...]) // weight | bias
        let l = "model.layers.\(layer)"
        let mapped: String
        switch base {
        case "attn_norm": mapped = "\(l).input_layernorm"
        case "ffn_norm": mapped = "\(l).post_attention_layernorm"
        case "attn_q": mapped = "\(l).self_attn.q_proj"
        case "attn_k": mapped = "\(l).self_attn.k_proj"
        case "attn_v": mapped = "\(l).self_attn.v_proj"
        case "attn_output": mapped = "\(l).self_attn.o_proj"
        case "attn_q_norm": mapped = "\(l).self_attn.q_norm"
        case "attn_k_norm": mapped = "\(l).self_attn.k_norm"
        case "ffn_gate_inp": mapped = "\(l).\(moeBlock).\(router)"
        case "ffn_gate_inp_shexp": mapped = "\(l).mlp.shared_expert_gate"
        case "ffn_gate_shexp": mapped = "\(l).mlp.\(sharedExpert).gate_proj"
        case "ffn_up_shexp": mapped = "\(l).mlp.\(sharedExpert).up_proj"
        case "ffn_down_shexp": mapped = "\(l).mlp.\(sharedExpert).down_proj"
        case "exp_probs_b": return "\(l).\(moeBlock).\(selectionBias)"
        case "attn_sinks": return "\(l).self_attn.sinks"
        case "ffn_down_exps": return suffix == "bias" ? "\(l).\(moeBlock).experts.down_proj_bias" : nil
        // Multi-head latent attention.
        case "attn_q_a": mapped = "\(l).self_attn.q_a_proj"
        case "attn_q_a_norm": mapped = "\(l).self_attn.q_a_layernorm"
        case "attn_q_b": mapped = "\(l).self_attn.q_b_proj"
        case "attn_kv_a_mqa": mapped = "\(l).self_attn.kv_a_proj_with_mqa"
        case "attn_kv_a_norm": mapped = "\(l).self_attn.kv_a_layernorm"
        case "attn_kv_b": mapped = "\(l).self_attn.kv_b_proj"
        case "ffn_gate": mapped = "\(l).mlp.gate_proj"
        case "ffn_up": mapped = "\(l).mlp.up_proj"
        case "ffn_down": mapped = "\(l).mlp.down_proj"
        default: return nil
        }
        return mapped + "." + suffix
    }
}
