import MoEFormats

/// What a tensor is for, read from its canonical (GGUF) name. The type rules are stated per role.
public enum TensorRole: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Routed experts' projections: `blk.N.ffn_{gate,up,down}_exps.weight`, most of an MoE model's bytes.
    case experts
    /// Shared experts and dense FFNs: `ffn_{gate,up,down}_shexp`, `ffn_{gate,up,down}` (always resident).
    case sharedFFN = "shared-ffn"
    /// Attention projections `attn_{q,k,v,output}` (and fused `attn_qkv`).
    case attention
    /// `token_embd.weight`: rows are looked up, never multiplied.
    case embedding
    /// `output.weight`, the output head.
    case output
    /// Routers `ffn_gate_inp` and the shared-expert gate `ffn_gate_inp_shexp`: tiny and decisive.
    case router
    /// 1-D tensors: norms, biases.
    case vector

    public var description: String { rawValue }

    /// The role of a canonical tensor of `shape` (outermost first).
    public static func of(name: String, shape: [Int]) -> TensorRole {
        if shape.drop(while: { $0 == 1 }).count <= 1 { return .vector }
        switch name {
        case TensorName.tokenEmbedding: return .embedding
        case TensorName.output: return .output
        default: break
        }
        let base = name.split(separator: ".").dropFirst(2).first.map(String.init) ?? name
        if base.hasSuffix("_exps") { return .experts }
        if base.hasPrefix("ffn_gate_inp") { return .router }
        if base.hasPrefix("attn_") { return .attention }
        if base.hasPrefix("ffn_") { return .sharedFFN }
        return .attention // any other matrix: treated like the attention weights
    }
}

/// Which type each role is stored in. Norms and biases always stay F32 (ggml's kernels want them so, and
/// they are a few KB); routers stay F32 unless asked (a misrouted token costs more than a few KB saves).
public struct TypeRules: Sendable, Equatable {
    public var experts: TensorType
    public var sharedFFN: TensorType
    public var attention: TensorType
    public var embedding: TensorType
    public var output: TensorType
    public var router: TensorType = .f32
    /// Per-tensor overrides, applied in order, the last match winning: a name pattern (`*` matches any
    /// run of characters) and a type, as llama-quantize's `--tensor-type`.
    public var overrides: [(pattern: String, type: TensorType)] = []
    /// Routed experts' type above every other rule (a companion file's, `moe-quantize --companion`).
    public var expertsForced: TensorType?
    /// A llama-quantize mix (`--preset Q4_K_M` …): when set, it chooses every quantizable tensor's type from the
    /// tensor's name, layer and the model's shape as llama-quantize does, and the role fields above are unused.
    public var mix: LlamaMix?
    /// The model facts a mix needs (layer and expert counts, GQA ratio); QuantizeJob sets them from the checkpoint.
    public var model = LlamaMix.Model()

    public init(experts: TensorType, sharedFFN: TensorType, attention: TensorType, embedding: TensorType, output: TensorType) {
        self.experts = experts
        self.sharedFFN = sharedFFN
        self.attention = attention
        self.embedding = embedding
        self.output = output
    }

    /// The types this tool writes.
    public static let writableTypes: [TensorType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .mxfp4,
                                                     .iq4_nl, .iq4_xs, .bf16, .f16, .f32]

    /// The non-linear 4-bit types, written by ggml's own search (quantize_iq4.c) for either rounding, weighted by the
    /// calibration when there is one (no GPTQ path).
    public static let iq4Types: Set<TensorType> = [.iq4_nl, .iq4_xs]

    /// The block types written through CKernels' K-family code (quantize_kref.c, quantize_kopt.c): both roundings,
    /// importance weights and GPTQ.
    public static let kFamilyTypes: Set<TensorType> = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q5_0, .q5_1, .mxfp4]

    /// Rules from one type for everything but routers and vectors, as `--type` alone means. For types below 8 bits the
    /// output head gets Q6_K, as llama-quantize does: it is the single most sensitive matrix, and Q6_K keeps
    /// its file size at llama-quantize's.
    public static func uniform(_ t: TensorType) -> TypeRules {
        let out: TensorType = [.q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .iq4_nl, .iq4_xs].contains(t) ? .q6_K : t
        return TypeRules(experts: t, sharedFFN: t, attention: t, embedding: t, output: out)
    }

    /// Named presets: what each is for.
    public enum Preset: String, Sendable, CaseIterable {
        /// Smallest memory for offloading: experts Q4_0 (the bytes that move), everything always resident
        /// (attention, shared experts, embedding) Q8_0, output head Q8_0.
        case smallRAM = "small-ram"
        /// Experts Q4_1 (better than Q4_0 at 11% more bytes), the rest Q8_0.
        case balanced
        /// Everything Q8_0: near-lossless (+0.02% perplexity), half of bf16.
        case quality
        /// The layout of llama-quantize's Q4_0 files (everything Q4_0, output Q6_K), with better rounding:
        /// for comparing with them at the same size.
        case compact
        /// llama-quantize's mixes, tensor for tensor (see `LlamaMix`): same types, same file size, our rounding.
        case q2_K = "Q2_K"
        case q3_K_M = "Q3_K_M"
        case q4_K_M = "Q4_K_M"
        case q5_K_M = "Q5_K_M"
        case mxfp4MoE = "MXFP4_MOE"

        public var rules: TypeRules {
            switch self {
            case .q2_K: return .mix(.q2_K)
            case .q3_K_M: return .mix(.q3_K_M)
            case .q4_K_M: return .mix(.q4_K_M)
            case .q5_K_M: return .mix(.q5_K_M)
            case .mxfp4MoE: return .mix(.mxfp4MoE)
            case .smallRAM: return TypeRules(experts: .q4_0, sharedFFN: .q8_0, attention: .q8_0, embedding: .q8_0, output: .q8_0)
            case .balanced: return TypeRules(experts: .q4_1, sharedFFN: .q8_0, attention: .q8_0, embedding: .q8_0, output: .q8_0)
            case .quality: return .uniform(.q8_0)
            case .compact: return .uniform(.q4_0)
            }
        }

        public var summary: String {
            switch self {
            case .smallRAM: return "experts Q4_0; attention, shared FFN, embedding, output Q8_0"
            case .balanced: return "experts Q4_1; attention, shared FFN, embedding, output Q8_0"
            case .quality: return "everything Q8_0"
            case .compact: return "everything Q4_0, output Q6_K (llama-quantize's Q4_0 layout)"
            case .q2_K, .q3_K_M, .q4_K_M, .q5_K_M: return "llama-quantize's \(rawValue) mix, tensor for tensor"
            case .mxfp4MoE: return "llama-quantize's MXFP4_MOE: routed experts MXFP4, the rest Q8_0"
            }
        }
    }

    /// Rules that follow a llama-quantize mix.
    public static func mix(_ m: LlamaMix) -> TypeRules {
        var r = TypeRules.uniform(m.baseType)
        r.mix = m
        return r
    }

    /// The type chosen for a tensor before checking that its rows fit the type's blocks.
    public func preferredType(name: String, shape: [Int]) -> TensorType {
        var t: TensorType
        let role = TensorRole.of(name: name, shape: shape)
        if role == .experts, let forced = expertsForced { return forced }
        if let mix, role != .vector, role != .router {
            t = mix.type(name: name, shape: shape, model: model)
            for o in overrides where Self.matches(name, o.pattern) { t = o.type }
            return t
        }
        switch role {
        case .experts: t = experts
        case .sharedFFN: t = sharedFFN
        case .attention: t = attention
        case .embedding: t = embedding
        case .output: t = output
        case .router: t = router
        case .vector: return .f32
        }
        for o in overrides where Self.matches(name, o.pattern) { t = o.type }
        return t
    }

    /// The stored type of a tensor: the preferred one when its rows divide into the type's blocks, else the
    /// closest type that fits (Q6_K → Q8_0 → F16 for rows not a multiple of 256 / 32), as llama-quantize falls back.
    public func type(name: String, shape: [Int]) -> (type: TensorType, fallback: Bool) {
        let preferred = preferredType(name: name, shape: shape)
        let row = shape.last ?? 1
        for t in Self.fallbackChain(preferred) where row % t.blockSize == 0 {
            return (t, t != preferred)
        }
        return (.f32, preferred != .f32)
    }

    /// llama-quantize's `tensor_type_fallback`: a 256-block type whose rows do not divide falls back to a 32-block
    /// type of about its size; a row that does not divide into 32 either goes to F16.
    static func fallbackChain(_ t: TensorType) -> [TensorType] {
        switch t {
        case .q6_K: return [.q6_K, .q8_0, .f16]
        case .q5_K: return [.q5_K, .q5_1, .f16]
        case .q4_K: return [.q4_K, .q5_0, .f16]
        case .q2_K, .q3_K: return [t, .q4_0, .f16]
        case .iq4_xs: return [.iq4_xs, .iq4_nl, .f16]
        case .iq4_nl: return [.iq4_nl, .f16]
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .mxfp4: return [t, .f16]
        default: return [t]
        }
    }

    /// Glob match with `*` only (whole name).
    static func matches(_ name: String, _ pattern: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1 { return name == pattern }
        guard name.hasPrefix(parts[0]) else { return false }
        var rest = Substring(name.dropFirst(parts[0].count))
        for (i, part) in parts.dropFirst().enumerated() {
            let last = i == parts.count - 2
            if last { return part.isEmpty || rest.hasSuffix(part) && rest.count >= part.count }
            if part.isEmpty { continue }
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }

    public static func == (a: TypeRules, b: TypeRules) -> Bool {
        a.experts == b.experts && a.sharedFFN == b.sharedFFN && a.attention == b.attention && a.embedding == b.embedding
            && a.output == b.output && a.router == b.router
            && a.overrides.map { "\($0.pattern)=\($0.type)" } == b.overrides.map { "\($0.pattern)=\($0.type)" }
            && a.mix == b.mix && a.model == b.model
    }
}
