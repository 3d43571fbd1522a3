import Foundation

/// The metadata a GGUF model file carries besides its tensors, built from a model's config and tokenizer
/// the way llama.cpp's `convert_hf_to_gguf.py` writes it, key for key and in its order, so that a file made
/// from a Hugging Face folder loads in llama.cpp like one its own converter made.
public enum GGUFModelMetadata {
    /// llama.cpp's `llama_ftype` for a file whose largest tensors are `type` (`general.file_type`).
    public static func llamaFileType(_ type: TensorType) -> Int {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q6_K: return 18
        case .bf16: return 32
        default: return 0
        }
    }

    /// The GGUF `general.architecture` of a spec: its first name (Mixtral: `llama`).
    public static func architectureName(_ spec: any ArchitectureSpec.Type) -> String { spec.ggufArchitectures[0] }

    /// `general.*` and `<arch>.*` keys for a model of `config`. `parameterCount` and `expertParameterCount`
    /// (all routed experts together) give `general.size_label`. `hf`, the config.json the model came from,
    /// supplies what `config` keeps only in derived form (DeepSeek's `mscale_all_dim`, ERNIE's MoE layer grid).
    public static func architecture(_ spec: any ArchitectureSpec.Type, config c: ModelConfig, hf: HFConfig? = nil, name: String,
                                    fileType: TensorType, parameterCount: Int, expertParameterCount: Int) -> [(String, GGUFValue)] {
        let a = architectureName(spec)
        func u32(_ n: Int) -> GGUFValue { .uint32(UInt32(clamping: n)) }
        func f32(_ x: Float) -> GGUFValue { .float32(x) }
        let deepseek = a == "deepseek2", glm = a == "glm4moe", ernie = a == "ernie4_5-moe"
        // Leading dense layers (`first_k_dense_replace`, ERNIE's `moe_layer_start_index`).
        let leadingDense = (0 ..< c.layerCount).first { !c.denseLayers.contains($0) } ?? c.layerCount
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
        ]
        if c.expertCount > 0 {
            m.append(("general.size_label", .string(sizeLabel(experts: c.expertCount, parameters: parameterCount,
                                                               expertParameters: expertParameterCount))))
        }
        if a == "llama" { m.append(("\(a).vocab_size", u32(c.vocabSize))) }
        m += [
            ("\(a).block_count", u32(c.layerCount)),
            ("\(a).context_length", u32(c.maxPositions)),
            ("\(a).embedding_length", u32(c.hiddenSize)),
            ("\(a).feed_forward_length", u32(a == "llama" || a == "olmoe" ? c.expertFFN : c.denseFFN)),
            ("\(a).attention.head_count", u32(c.headCount)),
            // MLA is written as multi-query attention over the latent (llama.cpp's converter: one KV head).
            ("\(a).attention.head_count_kv", u32(deepseek ? 1 : c.kvHeadCount)),
        ]
        if let y = c.yarn {
            m += [("\(a).rope.scaling.type", .string("yarn")), ("\(a).rope.scaling.factor", f32(Float(y.factor))),
                  ("\(a).rope.scaling.original_context_length", u32(Int(y.originalContext)))]
            // Only an explicit `attention_factor` is written, as the converter does: llama.cpp derives the
            // default (and DeepSeek's mscale through yarn_log_multiplier) itself.
            if let explicit = (hf?.resolvedRopeScaling?.attentionFactor) { m.append(("\(a).rope.scaling.yarn_attn_factor", f32(Float(explicit)))) }
            m += [("\(a).rope.scaling.yarn_beta_fast", f32(Float(y.betaFast))), ("\(a).rope.scaling.yarn_beta_slow", f32(Float(y.betaSlow)))]
        }
        m += [
            ("\(a).rope.freq_base", f32(c.ropeTheta)),
            ("\(a).attention.layer_norm_rms_epsilon", f32(c.rmsNormEps)),
            ("\(a).expert_count", u32(c.expertCount)),
            ("\(a).expert_used_count", u32(c.expertsPerToken)),
        ]
        if deepseek || glm {
            m += [("\(a).expert_group_count", u32(c.routing.groups)), ("\(a).expert_group_used_count", u32(c.routing.groupsUsed)),
                  // llama.cpp's llama_expert_gating_func_type: 1 softmax, 2 sigmoid. Written even where the config
                  // leaves it implicit (a DeepSeek-V3 config without `scoring_func`), which llama.cpp would gate by softmax.
                  ("\(a).expert_gating_func", u32(c.routing.scoring == .sigmoid ? 2 : 1))]
        }
        if a == "llama" { m.append(("\(a).rope.dimension_count", u32(c.headDim))) }
        if let mla = c.latentAttention {
            // The MQA view of MLA: keys are [latent ; rotary key], values the latent (converter's key_length /
            // value_length); the per-head sizes of the decompressed form go in the `_mla` keys.
            m += [("\(a).attention.key_length", u32(mla.kvLoraRank + mla.ropeDim)), ("\(a).attention.value_length", u32(mla.kvLoraRank))]
        } else if c.headDim * c.headCount != c.hiddenSize || a == "qwen3moe" || glm {
            m += [("\(a).attention.key_length", u32(c.headDim)), ("\(a).attention.value_length", u32(c.headDim))]
        }
        if let clip = c.clipQKV { m.append(("\(a).attention.clamp_kqv", f32(clip))) }
        m.append(("general.file_type", u32(llamaFileType(fileType))))
        let sharedCount = c.expertFFN > 0 ? c.sharedExpertFFN / c.expertFFN : 0
        if let mla = c.latentAttention {
            m += [("\(a).leading_dense_block_count", u32(leadingDense)), ("\(a).vocab_size", u32(c.vocabSize))]
            if mla.qLoraRank > 0 { m.append(("\(a).attention.q_lora_rank", u32(mla.qLoraRank))) }
            m += [("\(a).attention.kv_lora_rank", u32(mla.kvLoraRank)),
                  ("\(a).attention.key_length_mla", u32(mla.qkDim)), ("\(a).attention.value_length_mla", u32(mla.valueDim)),
                  ("\(a).expert_feed_forward_length", u32(c.expertFFN)), ("\(a).expert_shared_count", u32(hf?.nSharedExperts ?? sharedCount)),
                  ("\(a).expert_weights_scale", f32(c.routing.scale))]
            if c.normTopKProb { m.append(("\(a).expert_weights_norm", .bool(true))) }
            m.append(("\(a).rope.dimension_count", u32(mla.ropeDim)))
            // llama.cpp squares (1 + 0.1 · mscale_all_dim · ln factor) into the softmax scale, reading the key as
            // 0.1 · mscale_all_dim (its converter's convention). Without the config, from the scale factor itself.
            if let y = c.yarn {
                let logMul: Float? = hf.map { h in h.resolvedRopeScaling?.mscaleAllDim.map { Float(0.1 * $0) } }
                    ?? (c.attentionScaleFactor != 1 ? (c.attentionScaleFactor.squareRoot() - 1) / Float(log(y.factor)) : nil)
                if let logMul { m.append(("\(a).rope.scaling.yarn_log_multiplier", f32(logMul))) }
            }
        } else if glm {
            m += [("\(a).rope.dimension_count", u32(c.partialRotaryDim ?? c.headDim)),
                  ("\(a).expert_feed_forward_length", u32(c.expertFFN)), ("\(a).expert_shared_count", u32(hf?.nSharedExperts ?? sharedCount)),
                  ("\(a).leading_dense_block_count", u32(leadingDense)),
                  ("\(a).expert_weights_scale", f32(c.routing.scale)), ("\(a).expert_weights_norm", .bool(c.normTopKProb)),
                  // The multi-token-prediction layers are not written (the converter's --no-mtp), so none follow.
                  ("\(a).nextn_predict_layers", u32(0))]
        } else if ernie {
            // llama.cpp makes layer i MoE when i ≥ leading_dense_block_count and (i + 1) % step == 0.
            m += [("\(a).interleave_moe_layer_step", u32(hf?.moeLayerInterval ?? 1)),
                  ("\(a).leading_dense_block_count", u32(hf?.moeLayerStartIndex ?? leadingDense)),
                  ("\(a).expert_feed_forward_length", u32(c.expertFFN)), ("\(a).expert_shared_count", u32(hf?.moeNumSharedExperts ?? sharedCount)),
                  // The shared experts' real width (the tensors' rows). The converter writes intermediate_size /
                  // num_key_value_heads, which equals it in ERNIE-4.5-21B-A3B only by coincidence, and with which
                  // llama.cpp refuses any other shape.
                  ("\(a).expert_shared_feed_forward_length", u32(c.sharedExpertFFN))]
        } else {
            if a == "qwen3moe" || a == "qwen2moe" { m.append(("\(a).expert_feed_forward_length", u32(c.expertFFN))) }
            if c.sharedExpertFFN > 0 { m.append(("\(a).expert_shared_feed_forward_length", u32(c.sharedExpertFFN))) }
            // Qwen3-MoE and Mixtral always renormalise in llama.cpp; the others do only when told.
            if a == "qwen2moe" || a == "olmoe", c.normTopKProb { m.append(("\(a).expert_weights_norm", .bool(true))) }
        }
        m.append(("general.quantization_version", u32(2)))
        return m
    }

    /// `general.size_label` as gguf-py computes it: "<experts>x<parameters of one expert path>", e.g. "32x4.3M".
    public static func sizeLabel(experts: Int, parameters: Int, expertParameters: Int) -> String {
        "\(experts)x" + roundedNotation(parameters - expertParameters + expertParameters / max(1, experts))
    }

    /// gguf-py's model_weight_count_rounded_notation(count, min_digits=2): "4.3M", "287M", "1.2B".
    public static func roundedNotation(_ count: Int) -> String {
        let n = Double(count)
        let (scaled, suffix) = n > 1e12 ? (n * 1e-12, "T") : n > 1e9 ? (n * 1e-9, "B") : n > 1e6 ? (n * 1e-6, "M") : (n * 1e-3, "K")
        let digits = String(Int(scaled.rounded(.toNearestOrEven))).drop { $0 == "0" }.count
        return String(format: "%.\(max(2 - digits, 0))f", scaled) + suffix
    }

    /// gguf's token types.
    public enum TokenType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    /// `tokenizer.ggml.*` for a byte-level BPE tokenizer, padded with unused "[PADn]" tokens to `vocabSize`
    /// (a model's embedding may have more rows than its tokenizer has tokens). `padTokenId` and
    /// `chatTemplate` come from tokenizer_config.json.
    public static func tokenizer(_ spec: TokenizerSpec, vocabSize: Int, padTokenId: Int?, addEosToken: Bool = false,
                                 chatTemplate: String? = nil) throws -> [(String, GGUFValue)] {
        guard let pre = PreTokenizerTable.name(for: spec.preTokenizer) else {
            throw FormatError.malformed(path: "tokenizer.json", what: "its pre-tokenizer is none that llama.cpp knows by name (tokenizer.ggml.pre)")
        }
        let added = Dictionary(spec.addedTokens.map { ($0.id, $0.special) }, uniquingKeysWith: { a, _ in a })
        var tokens: [GGUFValue] = [], types: [GGUFValue] = []
        let count = max(vocabSize, spec.tokens.count)
        tokens.reserveCapacity(count)
        types.reserveCapacity(count)
        for id in 0 ..< count {
            if id < spec.tokens.count {
                tokens.append(.string(spec.tokens[id]))
                let t: TokenType = added[id].map { $0 ? .control : .userDefined } ?? .normal
                types.append(.int32(t.rawValue))
            } else {
                tokens.append(.string("[PAD\(id)]"))
                types.append(.int32(TokenType.unused.rawValue))
            }
        }
        var m: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string, tokens)),
            ("tokenizer.ggml.token_type", .array(.int32, types)),
            ("tokenizer.ggml.merges", .array(.string, spec.merges.map { .string($0.0 + " " + $0.1) })),
        ]
        if let eos = spec.eosTokenId { m.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let pad = padTokenId { m.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        if let bos = spec.bosTokenId { m.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        m.append(("tokenizer.ggml.add_bos_token", .bool(spec.addBosToken)))
        m.append(("tokenizer.ggml.add_eos_token", .bool(addEosToken)))
        if let chatTemplate { m.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return m
    }

    /// `tokenizer.ggml.*` for a SentencePiece vocabulary (GGUF tokenizer model `llama`) as llama.cpp's converter
    /// writes it from `tokenizer.model` (`_set_vocab_sentencepiece`): every piece with its score and type,
    /// padded to `vocabSize` with unused "[PADn]" tokens of score -10000; tokens that tokenizer_config.json's
    /// `added_tokens_decoder` names become control (special) or user-defined tokens of score -1000.
    /// `addSpacePrefix` nil leaves llama.cpp's default (a space before the text, as SentencePiece's
    /// `add_dummy_prefix`).
    public static func sentencePieceTokenizer(_ spec: TokenizerSpec, vocabSize: Int, addedTokens: [AddedToken] = [],
                                              padTokenId: Int?, addEosToken: Bool = false, addSpacePrefix: Bool?,
                                              chatTemplate: String? = nil, path: String) throws -> [(String, GGUFValue)] {
        guard case let .sentencePiece(options) = spec.kind, spec.scores.count == spec.tokens.count,
              spec.tokenTypes.count == spec.tokens.count else {
            throw FormatError.malformed(path: path, what: "a SentencePiece GGUF vocabulary needs each piece's score and type (tokenizer.model)")
        }
        let count = max(vocabSize, spec.tokens.count)
        var tokens = (0 ..< count).map { "[PAD\($0)]" }, scores = [Float](repeating: -10000, count: count)
        var types = [TokenType](repeating: .unused, count: count)
        for id in spec.tokens.indices {
            (tokens[id], scores[id], types[id]) = (spec.tokens[id], spec.scores[id], GGUFModelMetadata.TokenType(spec.tokenTypes[id]))
        }
        for t in addedTokens where t.id >= 0 && t.id < count {
            // The converter spells a user-defined token's ▁ as a space (llama.cpp matches it in raw text).
            tokens[t.id] = t.special ? t.content : t.content.replacingOccurrences(of: TokenizerSpec.spaceMark, with: " ")
            types[t.id] = t.special ? .control : .userDefined
            scores[t.id] = -1000
        }
        var m: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
            ("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, types.map { .int32($0.rawValue) })),
        ]
        if let bos = spec.bosTokenId { m.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos = spec.eosTokenId { m.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let unk = options.unknownTokenId { m.append(("tokenizer.ggml.unknown_token_id", .uint32(UInt32(unk)))) }
        if let pad = padTokenId { m.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(pad)))) }
        m.append(("tokenizer.ggml.add_bos_token", .bool(spec.addBosToken)))
        if addEosToken || options.addEosToken { m.append(("tokenizer.ggml.add_eos_token", .bool(true))) }
        if let addSpacePrefix { m.append(("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))) }
        if let chatTemplate { m.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return m
    }
}

extension GGUFModelMetadata.TokenType {
    /// GGUF's token type of a SentencePiece piece type (the same numbers; undefined pieces are normal).
    init(_ t: MoEFormats.TokenType) { self = Self(rawValue: Int32(t.rawValue)) ?? .normal }
}
