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

    public init(experts: TensorType, sharedFFN: TensorType, attention: TensorType, embedding: TensorType, output: TensorType) {
        self.experts = experts
        self.sharedFFN = sharedFFN
        self.attention = attention
        self.embedding = embedding
        self.output = output
    }

    /// The types this tool writes.
    public static let writableTypes: [TensorType] = [.q4_0, .q4_1, .q8_0, .q6_K, .bf16, .f16, .f32]

    /// Rules from one type for everything but routers and vectors, as `--type` alone means. For 4-bit types the
    /// output head gets Q6_K, as llama-quantize does: it is the single most sensitive matrix, and Q6_K keeps
    /// its file size at llama-quantize's.
    public static func uniform(_ t: TensorType) -> TypeRules {
        let out: TensorType = (t == .q4_0 || t == .q4_1) ? .q6_K : t
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

        public var rules: TypeRules {
            switch self {
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
            }
        }
    }

    /// The type chosen for a tensor before checking that its rows fit the type's blocks.
    public func preferredType(name: String, shape: [Int]) -> TensorType {
        var t: TensorType
        switch TensorRole.of(name: name, shape: shape) {
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

    static func fallbackChain(_ t: TensorType) -> [TensorType] {
        switch t {
        case .q6_K: return [.q6_K, .q8_0, .f16]
        case .q4_0, .q4_1, .q8_0: return [t, .f16]
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
    }
}
