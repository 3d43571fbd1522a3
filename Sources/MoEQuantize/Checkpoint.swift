import Foundation
import MoEFormats
import MoEStore

/// A model to quantize: its config and architecture, its tokenizer, and every tensor under its canonical
/// (GGUF) name, in the order the output file will hold them. A GGUF input keeps its order; a Hugging Face
/// folder is walked in sorted tensor-name order (as llama.cpp's converter does), each layer's per-expert
/// matrices stacked into one `[experts, rows, cols]` tensor at the place of the first of them.
public final class Checkpoint: @unchecked Sendable {
    public let path: String
    public let store: WeightStore
    public let tensors: [SourceTensor]
    /// Every distinct input file, for the changed-while-reading check.
    public let files: [InputFile]

    public var config: ModelConfig { store.config }
    public var architecture: any ArchitectureSpec.Type { store.architecture }
    public var isGGUF: Bool { if case .gguf = store.source { return true } else { return false } }

    /// Tensor types an input may hold: quantizing from an already quantized file would compound errors.
    public static let inputTypes: Set<TensorType> = [.f32, .f16, .bf16]

    /// `acceptQuantized`: any type the kernels dequantize may be read (`QuantizeOptions.acceptQuantizedInput`).
    public init(path: String, acceptQuantized: Bool = false) throws {
        self.path = path
        store = try WeightStore(path: path)
        var opened: [String: InputFile] = [:]
        func file(_ p: String) throws -> InputFile {
            if let f = opened[p] { return f }
            let f = try InputFile(path: p)
            opened[p] = f
            return f
        }
        func segment(_ t: TensorView) throws -> SourceTensor.Segment {
            guard Self.inputTypes.contains(t.type) || acceptQuantized && t.type.isSupported else {
                throw QuantizeError.unsupported(path: t.file.path, reason: "tensor '\(t.name)' is \(t.type); the input must be F32, F16 or BF16 (requantizing a quantized file compounds its errors)")
            }
            let offset = t.bytes.baseAddress.map { $0 - t.file.base! } ?? 0
            return SourceTensor.Segment(file: try file(t.file.path), offset: offset, rows: t.rowCount)
        }
        var list: [SourceTensor] = []
        switch store.source {
        case let .gguf(g):
            for t in g.tensors {
                list.append(SourceTensor(name: t.name, shape: t.shape, type: t.type, segments: [try segment(t)]))
            }
        case let .safetensors(s):
            list = try Self.huggingFaceTensors(s, store: store, segment: segment)
            if store.config.latentAttention != nil, store.config.ropeStyle != .interleaved {
                // GGUF deepseek2 rotates interleaved pairs (transformers' default `rope_interleave: true`);
                // the other layout would need the rotary rows of q and kv_a permuted, which is not done.
                throw QuantizeError.unsupported(path: path + "/config.json", reason: "'rope_interleave' false cannot be written as GGUF deepseek2 (its rotary pairs are interleaved)")
            }
            // GGUF `llama` (Mixtral) rotates interleaved pairs; llama.cpp's converter permutes the q and k rows
            // of each head so that the HF checkpoint's rotate-half pairs become adjacent. So do we.
            let config = store.config
            if store.architecture.ggufArchitectures.first == "llama" {
                list = list.map { t in
                    guard t.name.hasSuffix("attn_q.weight") || t.name.hasSuffix("attn_k.weight") else { return t }
                    let heads = t.name.hasSuffix("attn_q.weight") ? config.headCount : config.kvHeadCount
                    return t.permutingRowsForInterleavedRotary(heads: heads)
                }
            }
        }
        try Self.checkComplete(list.map(\.name), store: store)
        tensors = list
        files = opened.keys.sorted().map { opened[$0]! }
    }

    /// What every model of the architecture needs must be there (the loader checks shapes; here: presence),
    /// named as the input names it. A name counts as present under its canonical or its GGUF alias
    /// (`post_attention_norm` in GLM-4.5 files) or, for MLA, in either form of the up-projection.
    static func checkComplete(_ names: [String], store: WeightStore) throws {
        let c = store.config, naming = store.architecture.hfNaming
        let gguf: Bool
        if case .gguf = store.source { gguf = true } else { gguf = false }
        let aliases = store.architecture.ggufTensorAliases
        let have = Set(names)
        func present(_ canonical: String) -> Bool {
            if have.contains(canonical) { return true }
            let parts = canonical.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, let alias = aliases[String(parts[2])] else { return false }
            return have.contains("blk.\(parts[1]).\(alias)")
        }
        func missing(_ canonical: String, hf: @autoclosure () -> String) -> QuantizeError {
            .missingTensor(path: store.path, name: gguf ? canonical : hf())
        }
        func require(_ canonical: String) throws {
            if !present(canonical) { throw missing(canonical, hf: naming.hfName(for: canonical) ?? canonical) }
        }
        for g in [TensorName.tokenEmbedding, TensorName.outputNorm] + (c.tieWordEmbeddings ? [] : [TensorName.output]) {
            try require(g)
        }
        for l in 0 ..< c.layerCount {
            let attention: [String]
            if let m = c.latentAttention {
                attention = (m.qLoraRank > 0 ? ["attn_q_a", "attn_q_a_norm", "attn_q_b"] : ["attn_q"])
                    + ["attn_kv_a_mqa", "attn_kv_a_norm", "attn_output"]
                    + (present(TensorName.block(l, "attn_k_b.weight")) ? ["attn_k_b", "attn_v_b"] : ["attn_kv_b"])
            } else {
                attention = ["attn_q", "attn_k", "attn_v", "attn_output"]
            }
            for part in ["attn_norm", "ffn_norm"] + attention { try require(TensorName.block(l, "\(part).weight")) }
            guard !c.denseLayers.contains(l) else { continue }
            try require(TensorName.block(l, "ffn_gate_inp.weight"))
            // The choice ranks scores plus this bias (DeepSeek-V3, GLM, ERNIE): without it the model differs.
            if c.routing.selectionBias { try require(TensorName.block(l, "exp_probs_b.bias")) }
            for p in ExpertProjection.allCases where !have.contains(TensorName.experts(l, p)) {
                throw missing(TensorName.experts(l, p), hf: naming.expert(l, 0, p))
            }
        }
    }

    /// The tensors of a Hugging Face checkpoint under canonical names. Every tensor of the folder must be
    /// accounted for: an unknown one is an error (a file without it would be a different model), except
    /// buffers that transformers saves but no runtime reads (rotary `inv_freq`).
    private static func huggingFaceTensors(_ s: SafetensorsCheckpoint, store: WeightStore,
                                           segment: (TensorView) throws -> SourceTensor.Segment) throws -> [SourceTensor] {
        let c = store.config, naming = store.architecture.hfNaming, dir = s.directory
        // canonical name for each HF name this architecture can hold
        var canonicalOf: [String: String] = [:]
        var globals = [TensorName.tokenEmbedding, TensorName.outputNorm, TensorName.output]
        globals = globals.filter { naming.hfName(for: $0) != nil }
        for g in globals { canonicalOf[naming.hfName(for: g)!] = g }
        let parts = ["attn_norm", "ffn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
                     "ffn_gate_inp", "ffn_gate_inp_shexp", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp",
                     "ffn_gate", "ffn_up", "ffn_down",
                     "attn_q_a", "attn_q_a_norm", "attn_q_b", "attn_kv_a_mqa", "attn_kv_a_norm", "attn_kv_b"]
        var expertOf: [String: (layer: Int, p: ExpertProjection, e: Int)] = [:]
        for l in 0 ..< c.layerCount {
            for part in parts {
                for suffix in ["weight", "bias"] {
                    let canonical = TensorName.block(l, "\(part).\(suffix)")
                    if let hf = naming.hfName(for: canonical) { canonicalOf[hf] = canonical }
                }
            }
            // The router's selection bias has one HF name whatever the suffix; it is a bias.
            let bias = TensorName.block(l, "exp_probs_b.bias")
            if let hf = naming.hfName(for: bias) { canonicalOf[hf] = bias }
            if !c.denseLayers.contains(l) {
                for p in ExpertProjection.allCases {
                    for e in 0 ..< c.expertCount { expertOf[naming.expert(l, e, p)] = (l, p, e) }
                }
            }
        }
        // Tied embeddings: transformers uses the embedding as the head whatever lm_head holds, and llama.cpp's
        // converter drops a saved lm_head; so do we (its absence is how GGUF says "tied").
        if c.tieWordEmbeddings, let head = naming.hfName(for: TensorName.output) { canonicalOf[head] = nil }
        var out: [SourceTensor] = []
        var emittedExperts = Set<String>()
        for name in s.allTensors.map(\.name).sorted() {
            let t = s.tensor(name)!
            if c.tieWordEmbeddings, name == naming.hfName(for: TensorName.output) { continue }
            if let layer = Self.layerIndex(hfName: name), layer >= c.layerCount {
                // Multi-token-prediction layers after the last (GLM-4.5, DeepSeek-V3 `num_nextn_predict_layers`):
                // inference does not run them, llama.cpp's converter skips them for DeepSeek and with --no-mtp
                // for GLM, and the file then says `nextn_predict_layers` 0.
                continue
            }
            if let canonical = canonicalOf[name] {
                out.append(SourceTensor(name: canonical, shape: t.shape, type: t.type, segments: [try segment(t)]))
            } else if let (l, p, _) = expertOf[name] {
                let stacked = TensorName.experts(l, p)
                guard !emittedExperts.contains(stacked) else { continue }
                emittedExperts.insert(stacked)
                var segments: [SourceTensor.Segment] = []
                for e in 0 ..< c.expertCount {
                    let hf = naming.expert(l, e, p)
                    guard let m = s.tensor(hf) else { throw QuantizeError.missingTensor(path: dir, name: hf) }
                    guard m.shape == t.shape, m.type == t.type else {
                        throw QuantizeError.badShape(path: m.file.path, tensor: hf, reason: "is \(m.type) \(m.shape), expert 0 of the layer is \(t.type) \(t.shape)")
                    }
                    segments.append(try segment(m))
                }
                out.append(SourceTensor(name: stacked, shape: [c.expertCount] + t.shape, type: t.type, segments: segments))
            } else if name.hasSuffix("rotary_emb.inv_freq") {
                continue
            } else {
                throw QuantizeError.unsupported(path: t.file.path, reason: "tensor '\(name)' has no place in a \(c.architecture) GGUF file")
            }
        }
        return try out.flatMap { try ggufForm($0, store: store) }
    }

    /// `N` of an HF name `model.layers.N.…`.
    static func layerIndex(hfName name: String) -> Int? {
        guard name.hasPrefix("model.layers.") else { return nil }
        return Int(name.dropFirst("model.layers.".count).prefix { $0 != "." })
    }

    /// A canonical tensor as llama.cpp's converter writes it for the architecture: MLA's `kv_b_proj` split
    /// into `attn_k_b` (each head's key rows transposed, `[heads, kvLoraRank, nope]`) and `attn_v_b` (each
    /// head's value rows, `[heads, valueDim, kvLoraRank]`), the form llama.cpp's absorbed attention reads;
    /// ERNIE's `[1, experts]` selection bias as the `[experts]` vector llama.cpp declares; the
    /// architecture's own names (GLM-4.5's `post_attention_norm`).
    static func ggufForm(_ t: SourceTensor, store: WeightStore) throws -> [SourceTensor] {
        let c = store.config
        let parts = t.name.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk" else { return [t] }
        if let alias = store.architecture.ggufTensorAliases[parts[2]] { return [t.renamed("blk.\(parts[1]).\(alias)")] }
        switch parts[2] {
        case "exp_probs_b.bias" where t.shape.count > 1:
            return [t.renamed(t.name, shape: [t.elementCount])]
        case "attn_kv_b.weight":
            guard let m = c.latentAttention else { return [t] }
            let heads = c.headCount, perHead = m.nopeDim + m.valueDim
            guard t.shape == [heads * perHead, m.kvLoraRank], t.segments.count == 1 else {
                throw QuantizeError.badShape(path: t.segments.first?.file.path ?? store.path, tensor: t.name,
                                             reason: "is \(t.shape), MLA needs [\(heads) heads × (\(m.nopeDim) + \(m.valueDim)), kv_lora_rank \(m.kvLoraRank)]")
            }
            let s = t.segments[0], rowBytes = t.sourceRowBytes
            func rows(_ head: Int, skip: Int, count: Int) -> SourceTensor.Segment {
                SourceTensor.Segment(file: s.file, offset: s.offset + (head * perHead + skip) * rowBytes, rows: count)
            }
            let layer = "blk.\(parts[1])."
            let kB = SourceTensor(name: layer + "attn_k_b.weight", shape: [heads, m.kvLoraRank, m.nopeDim], type: t.type,
                                  segments: (0 ..< heads).map { rows($0, skip: 0, count: m.nopeDim) },
                                  transpose: .init(rows: m.nopeDim, cols: m.kvLoraRank))
            let vB = SourceTensor(name: layer + "attn_v_b.weight", shape: [heads, m.valueDim, m.kvLoraRank], type: t.type,
                                  segments: (0 ..< heads).map { rows($0, skip: m.nopeDim, count: m.valueDim) })
            return [kB, vB]
        default:
            return [t]
        }
    }

    /// Throws if any input file changed since it was opened.
    public func checkUnchanged() throws {
        for f in files { try f.checkUnchanged() }
    }

    /// Parameters in all tensors, and in routed experts only (for `general.size_label`).
    public var parameterCounts: (all: Int, experts: Int) {
        let all = tensors.reduce(0) { $0 + $1.elementCount }
        let experts = tensors.filter { $0.name.hasSuffix("_exps.weight") }.reduce(0) { $0 + $1.elementCount }
        return (all, experts)
    }
}
