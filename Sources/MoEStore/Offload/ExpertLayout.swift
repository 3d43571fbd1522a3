import MoEFormats
import MoEKernels

/// Where every expert's weights lie in the model's files: for each (layer, expert) the byte ranges of its
/// gate, up and down matrices, with their types and shapes. The expert cache reads experts by these ranges
/// (pread), never through the memory map, so a file truncated under a running engine gives a read error
/// rather than SIGBUS.
public struct ExpertLayout: Sendable {
    /// One matrix of one expert: `count` bytes at `offset` of `files[file]`, `rows × cols` of `type`.
    public struct Part: Sendable, Equatable {
        public let file: Int
        public let offset: Int
        public let count: Int
        public let type: TensorType
        public let rows: Int
        public let cols: Int
    }

    /// Layers of the model (dense layers have no experts; see `isMoE`).
    public let layers: Int
    /// Experts per MoE layer.
    public let experts: Int
    /// Experts chosen per token and layer (top-k).
    public let expertsPerToken: Int
    /// Paths of the files the ranges refer to.
    public let files: [String]
    /// Sizes of those files when the layout was made, in bytes.
    public let fileSizes: [Int]
    /// Whether layer l has routed experts.
    public let isMoE: [Bool]
    /// `[layers * experts * 3]`: gate, up, down of expert id = layer · experts + expert. Empty ranges
    /// (count 0) for dense layers.
    public let parts: [Part]

    /// Dense ids: one range over all layers' experts.
    public var ids: Int { layers * experts }
    public func id(layer: Int, expert: Int) -> Int { layer * experts + expert }
    public func part(_ id: Int, _ p: Int) -> Part { parts[id * 3 + p] }

    /// Bytes of expert `id`'s three matrices.
    public func bytes(of id: Int) -> Int { part(id, 0).count + part(id, 1).count + part(id, 2).count }
    /// The largest expert, in bytes.
    public var maxExpertBytes: Int { (0 ..< ids).map(bytes(of:)).max() ?? 0 }
    /// All experts together, in bytes: what offloading keeps out of memory.
    public var totalBytes: Int { (0 ..< ids).reduce(0) { $0 + bytes(of: $1) } }
    /// MoE layers.
    public var moeLayerCount: Int { isMoE.filter { $0 }.count }

    public init(layers: Int, experts: Int, expertsPerToken: Int, files: [String], fileSizes: [Int], isMoE: [Bool], parts: [Part]) {
        precondition(parts.count == layers * experts * 3 && isMoE.count == layers && files.count == fileSizes.count)
        (self.layers, self.experts, self.expertsPerToken) = (layers, experts, expertsPerToken)
        (self.files, self.fileSizes, self.isMoE, self.parts) = (files, fileSizes, isMoE, parts)
    }
}

extension WeightStore {
    /// The byte ranges of every expert (shape-checked as the forward pass's views are).
    public func expertLayout() throws -> ExpertLayout {
        let c = config
        var files: [String] = [], sizes: [Int] = [], fileIndex: [ObjectIdentifier: Int] = [:]
        var parts: [ExpertLayout.Part] = []
        let empty = ExpertLayout.Part(file: 0, offset: 0, count: 0, type: .f32, rows: 0, cols: 0)
        parts.reserveCapacity(c.layerCount * c.expertCount * 3)
        for l in 0 ..< c.layerCount {
            guard c.isMoELayer(l) else {
                parts += Array(repeating: empty, count: c.expertCount * 3)
                continue
            }
            for e in 0 ..< c.expertCount {
                for p in [ExpertProjection.gate, .up, .down] {
                    let m = try expertMatrix(layer: l, expert: e, p)
                    guard let mapped = m.owner as? MappedFile, let base = mapped.base else {
                        throw FormatError.malformed(path: path, what: "expert \(e) of layer \(l) is not in a mapped file")
                    }
                    guard !mapped.isAnonymous else {
                        throw FormatError.malformed(path: path, what: "experts stored in this checkpoint's own layout are converted in memory at load, so they cannot be offloaded from disk; convert the folder to GGUF first (moe-quantize)")
                    }
                    let key = ObjectIdentifier(mapped)
                    let f: Int
                    if let known = fileIndex[key] { f = known } else {
                        f = files.count
                        fileIndex[key] = f
                        files.append(mapped.path)
                        sizes.append(mapped.size)
                    }
                    parts.append(.init(file: f, offset: m.base - base, count: m.rows * m.rowBytes, type: m.type, rows: m.rows, cols: m.cols))
                }
            }
        }
        if files.isEmpty { files = [path]; sizes = [0] }
        return ExpertLayout(layers: c.layerCount, experts: c.expertCount, expertsPerToken: c.expertsPerToken,
                            files: files, fileSizes: sizes, isMoE: (0 ..< c.layerCount).map(c.isMoELayer), parts: parts)
    }
}
