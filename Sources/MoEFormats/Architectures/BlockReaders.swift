import Foundation

// Readers of the building blocks (Blocks.swift) that several architectures share, from a Hugging Face
// config.json or from GGUF metadata. Each names the key it could not use in its error.

extension ArchitectureSpec {
    /// Rotary scaling from `rope_parameters` / `rope_scaling`: nil for plain rotary, YaRN, or an error naming
    /// a scaling we do not implement. Returns YaRN and the `mscale_all_dim` DeepSeek-V3 applies to the softmax.
    static func rotaryScaling(hf c: HFConfig, path: String) throws -> (yarn: YaRN?, mscaleAllDim: Double?) {
        guard let p = c.resolvedRopeScaling else { return (nil, nil) }
        switch p.kind {
        case "default": return (nil, nil)
        case "yarn":
            guard let original = p.originalMaxPositionEmbeddings else {
                throw FormatError.malformed(path: path, what: "YaRN rope scaling lacks 'original_max_position_embeddings'")
            }
            // transformers: `factor`, else max_position_embeddings / original.
            let factor = try p.factor ?? Double(c.require(c.maxPositionEmbeddings, "max_position_embeddings", path: path)) / original
            let attention: Double
            if let a = p.attentionFactor {
                attention = a
            } else if let m = p.mscale, let all = p.mscaleAllDim, m != 0, all != 0 {
                attention = YaRN.mscale(factor, m) / YaRN.mscale(factor, all)
            } else {
                attention = YaRN.mscale(factor)
            }
            let yarn = YaRN(factor: factor, originalContext: original, betaFast: p.betaFast ?? 32, betaSlow: p.betaSlow ?? 1,
                            attentionFactor: attention, truncate: p.truncate ?? true)
            return (yarn, p.mscaleAllDim)
        default:
            // Name the key as the file spells it: transformers 5's `rope_parameters.rope_type`, or the older
            // `rope_scaling` with `rope_type` or `type`.
            let container = c.ropeParameters.map { $0.kind != "default" || c.ropeScaling == nil } ?? false ? "rope_parameters" : "rope_scaling"
            let field = p.ropeType != nil ? "rope_type" : "type"
            throw FormatError.malformed(path: path, what: "'\(container).\(field)' '\(FormatError.clip(p.kind, limit: 40))' is not supported (known: default, yarn)")
        }
    }

    /// Rotary scaling from GGUF metadata (`rope.scaling.*`). llama.cpp folds YaRN's attention factor into the
    /// softmax scale for DeepSeek (`yarn_log_multiplier`), so cos and sin are not scaled here (factor 1).
    static func rotaryScaling(gguf m: GGUFMetadata) throws -> YaRN? {
        guard let type = m.file.metadata["\(m.arch).rope.scaling.type"]?.string, type != "none" else { return nil }
        guard type == "yarn" else {
            throw FormatError.malformed(path: m.file.path, what: "metadata '\(m.arch).rope.scaling.type' '\(FormatError.clip(type, limit: 40))' is not supported (known: none, yarn)")
        }
        guard let factor = m.float("rope.scaling.factor"), let original = m.int("rope.scaling.original_context_length") else {
            throw FormatError.malformed(path: m.file.path, what: "YaRN needs '\(m.arch).rope.scaling.factor' and '\(m.arch).rope.scaling.original_context_length'")
        }
        return YaRN(factor: Double(factor), originalContext: Double(original),
                    betaFast: Double(m.float("rope.scaling.yarn_beta_fast") ?? 32), betaSlow: Double(m.float("rope.scaling.yarn_beta_slow") ?? 1),
                    attentionFactor: Double(m.float("rope.scaling.attn_factor") ?? 1))
    }

    /// llama.cpp's `expert_gating_func`: 1 softmax, 2 sigmoid; absent: `fallback`.
    static func scoring(gguf m: GGUFMetadata, fallback: RoutingRule.Scoring) throws -> RoutingRule.Scoring {
        switch m.int("expert_gating_func") {
        case nil: return fallback
        case 1: return .softmax
        case 2: return .sigmoid
        case let v?: throw FormatError.malformed(path: m.file.path, what: "metadata '\(m.arch).expert_gating_func' \(v) is not supported (1 softmax, 2 sigmoid)")
        }
    }

    /// Expert groups from GGUF (`expert_group_count`, `expert_group_used_count`), checked here so that the
    /// error names the GGUF keys (RoutingRule.validate names config.json's `n_group` / `topk_group`).
    static func groups(gguf m: GGUFMetadata) throws -> (Int, Int) {
        // 0 groups means ungrouped, as llama.cpp reads it.
        let stored = m.int("expert_group_count") ?? 1
        guard stored >= 0 else {
            throw FormatError.malformed(path: m.file.path, what: "metadata '\(m.arch).expert_group_count' \(stored) is negative")
        }
        let n = max(stored, 1)
        let used = m.int("expert_group_used_count") ?? n
        guard used >= 1, used <= n else {
            throw FormatError.malformed(path: m.file.path, what: "metadata '\(m.arch).expert_group_used_count' \(used) is not in 1…\(n) ('\(m.arch).expert_group_count')")
        }
        return (n, used)
    }

    /// A shared expert's width from its tensor in the first MoE layer (the GGUF's own tensor shapes are the
    /// truth: llama.cpp's converter writes ERNIE's `expert_shared_feed_forward_length` as the dense width).
    static func sharedExpertWidth(gguf m: GGUFMetadata, dense: Set<Int>, layers: Int) -> Int {
        guard let first = (0 ..< layers).first(where: { !dense.contains($0) }),
              let t = m.file.tensor(TensorName.block(first, "ffn_up_shexp.weight")) else { return 0 }
        return t.shape.count >= 2 ? t.shape[t.shape.count - 2] : 0
    }
}
