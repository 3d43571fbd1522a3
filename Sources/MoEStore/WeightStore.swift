import Foundation
import MoEFormats
import MoEKernels

/// All of a model's weights, looked up by canonical (GGUF) name whatever file they came from:
/// a GGUF file, or a Hugging Face folder of safetensors shards. Nothing is copied: matrices are views
/// into the memory mappings, and the OS pages them in as the forward pass touches them.
public final class WeightStore: @unchecked Sendable {
    public enum Source: Sendable {
        case gguf(GGUFFile)
        case safetensors(SafetensorsCheckpoint)
    }

    public let path: String
    public let source: Source
    public let config: ModelConfig
    public let architecture: any ArchitectureSpec.Type
    /// Tensors the architecture built at load from a checkpoint's own layout (`ArchitectureSpec.derivedTensors`),
    /// by canonical name, in anonymous memory.
    private let derived: DerivedTensors

    /// Opens `path`: a `.gguf` file, or a folder with `config.json` and safetensors weights.
    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FormatError.missingFile(path: path) }
        if isDir.boolValue {
            let configPath = path + "/config.json"
            let hf = try HFConfig.load(path: configPath)
            guard let modelType = hf.modelType else {
                throw FormatError.malformed(path: configPath, what: "config.json lacks 'model_type' (supported: \(Architectures.supportedModelTypes))")
            }
            let spec = try Architectures.spec(modelType: modelType, path: configPath)
            let config = try spec.config(hf: hf, path: configPath)
            try config.validate(path: configPath)
            let checkpoint = try SafetensorsCheckpoint(directory: path)
            architecture = spec
            self.config = config
            source = .safetensors(checkpoint)
            derived = try spec.derivedTensors(checkpoint: checkpoint, config: config, path: path)
        } else {
            let gguf = try GGUFFile(path: path)
            let spec = try Architectures.spec(gguf: gguf)
            let config = try spec.config(gguf: GGUFMetadata(gguf, arch: gguf.architecture ?? ""))
            try config.validate(path: path)
            architecture = spec
            self.config = config
            source = .gguf(gguf)
            derived = DerivedTensors()
        }
        try validateTypes()
    }

    /// The file a tensor error should name.
    private var errorPath: String {
        switch source {
        case let .gguf(g): return g.path
        case .safetensors: return path
        }
    }

    /// Every tensor in the model, for `inspect` and type checks.
    public var allTensors: [TensorView] {
        switch source {
        case let .gguf(g): return g.tensors
        case let .safetensors(s):
            return (s.allTensors.filter { !derived.consumed.contains($0.name) } + derived.tensors.values).sorted { $0.name < $1.name }
        }
    }

    private func validateTypes() throws {
        for t in allTensors where !t.type.isSupported {
            throw FormatError.unknownDType(path: t.file.path, tensor: t.name, dtype: t.type.description)
        }
    }

    /// A non-expert tensor by canonical name, or nil.
    public func tensor(_ canonical: String) -> TensorView? {
        switch source {
        case let .gguf(g): return g.tensor(canonical) ?? ggufAlias(canonical).flatMap { g.tensor($0) }
        case let .safetensors(s): return derived.tensors[canonical] ?? architecture.hfNaming.hfName(for: canonical).flatMap { s.tensor($0) }
        }
    }

    /// The architecture's own GGUF name for a canonical block tensor (`blk.N.ffn_norm.weight` →
    /// `blk.N.post_attention_norm.weight` in GLM-4.5 files), or nil.
    private func ggufAlias(_ canonical: String) -> String? {
        let aliases = architecture.ggufTensorAliases
        guard !aliases.isEmpty, canonical.hasPrefix("blk.") else { return aliases[canonical] }
        let parts = canonical.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, let alias = aliases[String(parts[2])] else { return nil }
        return "blk.\(parts[1]).\(alias)"
    }

    /// Slices of a stacked 3-D tensor `[count, rows, cols]` (MLA's per-head `attn_k_b`, `attn_v_b`), shape-checked.
    public func stackedMatrices(_ canonical: String, count: Int, rows: Int, cols: Int) throws -> [WeightMatrix] {
        let t = try require(canonical, shape: [count, rows, cols])
        // One slice may be stored as a plain matrix (ggml's writers drop outer dimensions of 1).
        if t.shape.count == 2 { return [try Self.weightMatrix(t)] }
        return try (0 ..< count).map { try Self.weightMatrix(t, expert: $0) }
    }

    private func require(_ canonical: String, shape: [Int]) throws -> TensorView {
        guard let t = tensor(canonical) else {
            let shown: String
            if case .safetensors = source { shown = architecture.hfNaming.hfName(for: canonical) ?? canonical } else { shown = canonical }
            throw FormatError.missingTensor(path: errorPath, name: shown)
        }
        guard Self.sameShape(t.shape, shape) else {
            throw FormatError.shapeMismatch(path: t.file.path, tensor: t.name, expected: shape, found: t.shape)
        }
        return t
    }

    /// Shapes equal but for outer dimensions of 1. ggml's own GGUF writer (llama-quantize, gguf-split) stores
    /// only `ggml_n_dims` dimensions, dropping trailing `ne` of 1, so Qwen2-MoE's `[1, hidden]`
    /// `ffn_gate_inp_shexp` comes back as `[hidden]`; the bytes are the same either way.
    static func sameShape(_ found: [Int], _ expected: [Int]) -> Bool {
        found.drop { $0 == 1 }.elementsEqual(expected.drop { $0 == 1 })
    }

    /// A 2-D weight `[rows, cols]` (rows = outputs, cols = inputs), shape-checked.
    public func matrix(_ canonical: String, rows: Int, cols: Int) throws -> WeightMatrix {
        try Self.weightMatrix(try require(canonical, shape: [rows, cols]))
    }

    /// A view as a matrix (or one expert of a stacked tensor); the kernels' complaint becomes one naming the file.
    static func weightMatrix(_ t: TensorView, expert: Int? = nil) throws -> WeightMatrix {
        do {
            if let expert { return try WeightMatrix(t, expert: expert) }
            return try WeightMatrix(t)
        } catch let e as KernelError {
            throw FormatError.malformed(path: t.file.path, what: e.description)
        }
    }

    /// A 1-D tensor (norm weight, bias) widened to float32.
    public func vector(_ canonical: String, count: Int) throws -> [Float] {
        try floats(canonical, shape: [count])
    }

    /// A small tensor of any shape (per-expert biases `[experts, width]`) widened to float32, row-major.
    public func floats(_ canonical: String, shape: [Int]) throws -> [Float] {
        let t = try require(canonical, shape: shape)
        let count = shape.reduce(1, *)
        guard t.type.isQuantized == false || count % t.type.blockSize == 0 else {
            throw FormatError.malformed(path: t.file.path, what: "tensor '\(t.name)' of \(count) elements is not whole \(t.type) blocks")
        }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { Dequantize.row(type: t.type, src: t.bytes.baseAddress!, dst: $0.baseAddress!, count: count) }
        return out
    }

    public func hasTensor(_ canonical: String) -> Bool { tensor(canonical) != nil }

    /// Expert `e`'s projection in `layer`: gate/up are `[expertFFN, hidden]`, down is `[hidden, expertFFN]`.
    public func expertMatrix(layer: Int, expert e: Int, _ p: ExpertProjection) throws -> WeightMatrix {
        let c = config
        let (rows, cols) = p == .down ? (c.hiddenSize, c.expertFFN) : (c.expertFFN, c.hiddenSize)
        switch source {
        case .gguf:
            let t = try require(TensorName.experts(layer, p), shape: [c.expertCount, rows, cols])
            return try Self.weightMatrix(t, expert: e)
        case .safetensors where derived.tensors[TensorName.experts(layer, p)] != nil:
            let t = try require(TensorName.experts(layer, p), shape: [c.expertCount, rows, cols])
            return try Self.weightMatrix(t, expert: e)
        case let .safetensors(s):
            let name = architecture.hfNaming.expert(layer, e, p)
            guard let t = s.tensor(name) else { throw FormatError.missingTensor(path: path, name: name) }
            guard t.shape == [rows, cols] else {
                throw FormatError.shapeMismatch(path: t.file.path, tensor: name, expected: [rows, cols], found: t.shape)
            }
            return try Self.weightMatrix(t)
        }
    }

    /// The file the tokenizer comes from: the GGUF file itself, or the folder's tokenizer.json (else its
    /// SentencePiece tokenizer.model; TokenizerSpec.file(forModel:)).
    public var tokenizerPath: String {
        switch source {
        case let .gguf(g): return g.path
        case .safetensors: return TokenizerSpec.file(forModel: path)
        }
    }

    /// The chat template the model carries (GGUF metadata or the folder's files), nil when it has none.
    public func chatTemplate() throws -> ChatTemplateSource? {
        switch source {
        case let .gguf(g): return ChatTemplateSource.find(gguf: g)
        case .safetensors: return try ChatTemplateSource.find(folder: path)
        }
    }

    /// The tokenizer description: GGUF metadata, or the folder's tokenizer file.
    public func tokenizerSpec() throws -> TokenizerSpec {
        switch source {
        case let .gguf(g): return try TokenizerSpec(gguf: g)
        case .safetensors: return try TokenizerSpec(modelPath: path)
        }
    }
}
