import Foundation

/// The fields of a Hugging Face `config.json` that any supported architecture uses. Every field is optional
/// here; each architecture applies its own defaults (as transformers does) in its `ArchitectureSpec`.
public struct HFConfig: Decodable, Sendable {
    public var modelType: String?
    public var vocabSize: Int?
    public var hiddenSize: Int?
    public var intermediateSize: Int?
    public var numHiddenLayers: Int?
    public var numAttentionHeads: Int?
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var numExperts: Int?
    public var numLocalExperts: Int?
    public var numExpertsPerTok: Int?
    public var moeIntermediateSize: Int?
    public var sharedExpertIntermediateSize: Int?
    public var normTopkProb: Bool?
    public var decoderSparseStep: Int?
    public var mlpOnlyLayers: [Int]?
    public var rmsNormEps: Double?
    public var ropeTheta: Double?
    public var ropeParameters: RopeParameters?
    public var attentionBias: Bool?
    public var qkvBias: Bool?
    public var clipQkv: Double?
    public var tieWordEmbeddings: Bool?
    public var maxPositionEmbeddings: Int?
    public var eosTokenId: TokenIds?
    public var bosTokenId: TokenIds?
    /// transformers < 5 kept rotary scaling here (`type` or `rope_type`); 5 moved it into `rope_parameters`.
    public var ropeScaling: RopeParameters?
    public var partialRotaryFactor: Double?
    // DeepSeek-V2/V3, GLM-4.5 (multi-head latent attention, grouped sigmoid routing, shared experts).
    public var qLoraRank: Int?
    public var kvLoraRank: Int?
    public var qkNopeHeadDim: Int?
    public var qkRopeHeadDim: Int?
    public var vHeadDim: Int?
    public var nRoutedExperts: Int?
    public var nSharedExperts: Int?
    public var firstKDenseReplace: Int?
    public var nGroup: Int?
    public var topkGroup: Int?
    public var topkMethod: String?
    public var scoringFunc: String?
    public var routedScalingFactor: Double?
    public var ropeInterleave: Bool?
    public var useQkNorm: Bool?
    public var numNextnPredictLayers: Int?
    // ERNIE-4.5 MoE.
    public var moeNumExperts: Int?
    public var moeK: Int?
    public var moeLayerStartIndex: Int?
    public var moeLayerEndIndex: Int?
    public var moeLayerInterval: Int?
    public var moeNumSharedExperts: Int?
    public var moeNormMin: Double?
    public var useBias: Bool?
    // gpt-oss
    public var layerTypes: [String]?
    public var slidingWindow: Int?
    public var swigluAlpha: Double?
    public var swigluLimit: Double?

    public struct RopeParameters: Decodable, Sendable {
        public var ropeTheta: Double?
        public var ropeType: String?
        public var type: String?
        public var factor: Double?
        public var originalMaxPositionEmbeddings: Double?
        public var betaFast: Double?
        public var betaSlow: Double?
        public var mscale: Double?
        public var mscaleAllDim: Double?
        public var attentionFactor: Double?
        public var truncate: Bool?
        public var partialRotaryFactor: Double?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta"
            case ropeType = "rope_type"
            case type, factor, mscale, truncate
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case betaFast = "beta_fast"
            case betaSlow = "beta_slow"
            case mscaleAllDim = "mscale_all_dim"
            case attentionFactor = "attention_factor"
            case partialRotaryFactor = "partial_rotary_factor"
        }
        /// The scaling kind: `rope_type`, or the older `type`; "default" when neither is given.
        public var kind: String { ropeType ?? type ?? "default" }
    }

    /// `eos_token_id` may be a number, a list of numbers, or null.
    public struct TokenIds: Decodable, Sendable {
        public var ids: [Int]
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { ids = [] } else if let one = try? c.decode(Int.self) { ids = [one] } else { ids = try c.decode([Int].self) }
        }
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case numExperts = "num_experts"
        case numLocalExperts = "num_local_experts"
        case numExpertsPerTok = "num_experts_per_tok"
        case moeIntermediateSize = "moe_intermediate_size"
        case sharedExpertIntermediateSize = "shared_expert_intermediate_size"
        case normTopkProb = "norm_topk_prob"
        case decoderSparseStep = "decoder_sparse_step"
        case mlpOnlyLayers = "mlp_only_layers"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeParameters = "rope_parameters"
        case attentionBias = "attention_bias"
        case qkvBias = "qkv_bias"
        case clipQkv = "clip_qkv"
        case tieWordEmbeddings = "tie_word_embeddings"
        case maxPositionEmbeddings = "max_position_embeddings"
        case eosTokenId = "eos_token_id"
        case bosTokenId = "bos_token_id"
        case ropeScaling = "rope_scaling"
        case partialRotaryFactor = "partial_rotary_factor"
        case qLoraRank = "q_lora_rank"
        case kvLoraRank = "kv_lora_rank"
        case qkNopeHeadDim = "qk_nope_head_dim"
        case qkRopeHeadDim = "qk_rope_head_dim"
        case vHeadDim = "v_head_dim"
        case nRoutedExperts = "n_routed_experts"
        case nSharedExperts = "n_shared_experts"
        case firstKDenseReplace = "first_k_dense_replace"
        case nGroup = "n_group"
        case topkGroup = "topk_group"
        case topkMethod = "topk_method"
        case scoringFunc = "scoring_func"
        case routedScalingFactor = "routed_scaling_factor"
        case ropeInterleave = "rope_interleave"
        case useQkNorm = "use_qk_norm"
        case numNextnPredictLayers = "num_nextn_predict_layers"
        case moeNumExperts = "moe_num_experts"
        case moeK = "moe_k"
        case moeLayerStartIndex = "moe_layer_start_index"
        case moeLayerEndIndex = "moe_layer_end_index"
        case moeLayerInterval = "moe_layer_interval"
        case moeNumSharedExperts = "moe_num_shared_experts"
        case moeNormMin = "moe_norm_min"
        case useBias = "use_bias"
        case layerTypes = "layer_types"
        case slidingWindow = "sliding_window"
        case swigluAlpha = "swiglu_alpha"
        case swigluLimit = "swiglu_limit"
    }

    public static func load(path: String) throws -> HFConfig {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.missingFile(path: path) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError.cannotOpen(path: path, reason: FormatError.clip(error.localizedDescription))
        }
        do { return try JSONDecoder().decode(HFConfig.self, from: data) } catch let e as DecodingError {
            throw FormatError.badJSON(path: path, reason: Self.explain(e, data: data))
        } catch {
            throw FormatError.badJSON(path: path, reason: FormatError.clip("\(error)"))
        }
    }

    /// A decoding error in words, one short line.
    static func explain(_ e: DecodingError, data: Data) -> String {
        func field(_ c: DecodingError.Context) -> String { FormatError.quote(c.codingPath.map(\.stringValue).joined(separator: ".")) }
        switch e {
        case let .dataCorrupted(c) where c.codingPath.isEmpty: return syntaxProblem(data)
        case let .dataCorrupted(c): return "field \(field(c)) has an invalid value"
        case let .typeMismatch(_, c) where c.codingPath.isEmpty: return "the top level is not an object"
        case let .typeMismatch(_, c), let .valueNotFound(_, c): return "field \(field(c)) has the wrong type"
        case let .keyNotFound(k, _): return "missing field \(FormatError.quote(k.stringValue))"
        @unknown default: return FormatError.clip("\(e)")
        }
    }

    /// Why `data` did not decode when the decoder gives no field: JSONSerialization's account of the syntax
    /// error ("Invalid value around character 8."), or, if it parses, a number that fits no Swift number type.
    static func syntaxProblem(_ data: Data) -> String {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return "a number is fractional or too large where an integer belongs"
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
            return "not valid JSON" + (detail.map { " (\(FormatError.clip($0)))" } ?? "")
        }
    }

    /// Rope theta from transformers 5's `rope_parameters` or the older top-level `rope_theta`.
    public var resolvedRopeTheta: Double? { ropeParameters?.ropeTheta ?? ropeScaling?.ropeTheta ?? ropeTheta }

    /// The rotary parameters beyond theta: transformers 5's `rope_parameters`, else the older `rope_scaling`.
    public var resolvedRopeScaling: RopeParameters? {
        if let p = ropeParameters, p.kind != "default" || ropeScaling == nil { return p }
        return ropeScaling ?? ropeParameters
    }

    /// Throws a clear error for a required field that is absent.
    public func require<T>(_ value: T?, _ name: String, path: String) throws -> T {
        guard let value else { throw FormatError.malformed(path: path, what: "config.json lacks '\(name)'") }
        return value
    }
}

/// Typed access to GGUF metadata keys under the architecture prefix (`qwen3moe.block_count`, …).
public struct GGUFMetadata {
    public let file: GGUFFile
    public let arch: String
    public init(_ file: GGUFFile, arch: String) { self.file = file; self.arch = arch }

    public func int(_ key: String) -> Int? { file.metadata["\(arch).\(key)"]?.int }
    public func float(_ key: String) -> Float? { file.metadata["\(arch).\(key)"]?.double.map { Float($0) } }
    public func bool(_ key: String) -> Bool? { file.metadata["\(arch).\(key)"]?.bool }
    public func requireInt(_ key: String) throws -> Int {
        guard let v = int(key) else {
            let present = file.metadata["\(arch).\(key)"] != nil
            throw FormatError.malformed(path: file.path, what: present ? "metadata '\(arch).\(key)' is not an integer that fits" : "metadata lacks '\(arch).\(key)'")
        }
        return v
    }
    public var eosTokenId: Int? { file.metadata["tokenizer.ggml.eos_token_id"]?.int }
    public var bosTokenId: Int? { file.metadata["tokenizer.ggml.bos_token_id"]?.int }
    /// Vocabulary size from metadata, else from the token list, else from token_embd's rows.
    public var vocabSize: Int? {
        int("vocab_size") ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count ?? file.tensor("token_embd.weight")?.shape.first
    }
}
