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

    public init(path: String) throws {
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
            guard Self.inputTypes.contains(t.type) else {
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
    /// named as the input names it.
    static func checkComplete(_ names: [String], store: WeightStore) throws {
        let c = store.config, naming = store.architecture.hfNaming
        let gguf: Bool
        if case .gguf = store.source { gguf = true } else { gguf = false }
        let have = Set(names)
        func missing(_ canonical: String, hf: @autoclosure () -> String) -> QuantizeError {
            .missingTensor(path: store.path, name: gguf ? canonical : hf())
        }
        for g in [TensorName.tokenEmbedding, TensorName.outputNorm] + (c.tieWordEmbeddings ? [] : [TensorName.output]) where !have.contains(g) {
            throw missing(g, hf: naming.hfName(for: g) ?? g)
        }
        for l in 0 ..< c.layerCount {
            for part in ["attn_norm", "ffn_norm", "attn_q", "attn_k", "attn_v", "attn_output"] {
                let n = TensorName.block(l, "\(part).weight")
                if !have.contains(n) { throw missing(n, hf: naming.hfName(for: n) ?? n) }
            }
            guard !c.denseLayers.contains(l) else { continue }
            let router = TensorName.block(l, "ffn_gate_inp.weight")
            if !have.contains(router) { throw missing(router, hf: naming.hfName(for: router) ?? router) }
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
                     "ffn_gate", "ffn_up", "ffn_down"]
        var expertOf: [String: (layer: Int, p: ExpertProjection, e: Int)] = [:]
        for l in 0 ..< c.layerCount {
            for part in parts {
                for suffix in ["weight", "bias"] {
                    let canonical = TensorName.block(l, "\(part).\(suffix)")
                    if let hf = naming.hfName(for: canonical) { canonicalOf[hf] = canonical }
                }
            }
            if !c.denseLayers.contains(l) {
                for p in ExpertProjection.allCases {
                    for e in 0 ..< c.expertCount { expertOf[naming.expert(l, e, p)] = (l, p, e) }
                }
            }
        }
        var out: [SourceTensor] = []
        var emittedExperts = Set<String>()
        for name in s.allTensors.map(\.name).sorted() {
            let t = s.tensor(name)!
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
        return out
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
