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
    /// (all routed experts together) give `general.size_label`.
    public static func architecture(_ spec: any ArchitectureSpec.Type, config c: ModelConfig, name: String,
                                    fileType: TensorType, parameterCount: Int, expertParameterCount: Int) -> [(String, GGUFValue)] {
        let a = architectureName(spec)
        func u32(_ n: Int) -> GGUFValue { .uint32(UInt32(clamping: n)) }
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
            ("\(a).attention.head_count_kv", u32(c.kvHeadCount)),
            ("\(a).rope.freq_base", .float32(c.ropeTheta)),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps)),
            ("\(a).expert_count", u32(c.expertCount)),
            ("\(a).expert_used_count", u32(c.expertsPerToken)),
        ]
        if a == "llama" { m.append(("\(a).rope.dimension_count", u32(c.headDim))) }
        if c.headDim * c.headCount != c.hiddenSize || a == "qwen3moe" {
            m += [("\(a).attention.key_length", u32(c.headDim)), ("\(a).attention.value_length", u32(c.headDim))]
        }
        if let clip = c.clipQKV { m.append(("\(a).attention.clamp_kqv", .float32(clip))) }
        m.append(("general.file_type", u32(llamaFileType(fileType))))
        if a == "qwen3moe" || a == "qwen2moe" { m.append(("\(a).expert_feed_forward_length", u32(c.expertFFN))) }
        if c.sharedExpertFFN > 0 { m.append(("\(a).expert_shared_feed_forward_length", u32(c.sharedExpertFFN))) }
        // Qwen3-MoE always renormalises in llama.cpp; the others do only when told.
        if a != "qwen3moe", c.normTopKProb { m.append(("\(a).expert_weights_norm", .bool(true))) }
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
}
