import MoEFormats
import MoEKernels
import MoEStore
import MoETokenizer

/// A loaded model: its description, resolved weights and tokenizer. Immutable and shareable;
/// per-sequence state (KV cache, scratch) lives in `InferenceState`.
public final class Model: Sendable {
    public let config: ModelConfig
    public let store: WeightStore
    public let tokenizer: Tokenizer
    public let tokenEmbedding: WeightMatrix   // [vocab, hidden]; rows dequantized on lookup
    public let outputNorm: [Float]            // [hidden]
    public let output: WeightMatrix           // [vocab, hidden]; token_embd when tied
    public let layers: [LayerWeights]         // [layers]
    let rope: Rope
    /// Offloaded experts (nil: every expert read through the memory map, as the OS pages it in).
    public let offload: ExpertOffload?
    /// Which matrices keep repacked rows; under offload, whether experts are repacked as they enter the cache.
    public let repack: RepackPolicy
    /// For each layer, its index among the MoE layers (-1 for a dense layer): a routing trace's layer axis.
    let moeOrdinal: [Int]

    /// Opens a GGUF file or a Hugging Face folder and resolves every tensor the forward pass needs.
    /// `repack`: which matrices keep their rows repacked (`RepackPolicy`). The default, `.replacing`, repacks only
    /// where the copy serves every product and the row-major pages are then released (one copy in memory: Q4_0,
    /// MXFP4, Q4_K, Q3_K and IQ4_XS where the AVX2 level runs; Q4_0, MXFP4, Q4_K, Q6_K, Q3_K and IQ4_XS where the AVX-512
    /// one does); `.all` would add decode-only layouts at the cost of a second copy (none exists today). Offloaded models repack their resident weights only
    /// with `.all`; their experts, unless `.none`, as they enter the expert cache, where the model computes on
    /// 8-bit activations (`ExpertCacheOptions.repackInPlace`).
    ///
    /// `offload`: experts stay on disk and come through an expert cache held within `offload.budgetBytes`
    /// for the whole process; the other weights are copied into memory (`ResidentWeights`). Output is the
    /// same as without (the same bytes reach the same kernels).
    public convenience init(path: String, repack: RepackPolicy = .replacing, offload: OffloadSettings? = nil) throws {
        try self.init(store: WeightStore(path: path), repack: repack, offload: offload)
    }

    public init(store: WeightStore, repack: RepackPolicy = .replacing, offload settings: OffloadSettings? = nil) throws {
        let c = store.config
        self.store = store
        self.repack = repack
        config = c
        tokenizer = try Self.loadTokenizer(store)
        let resident = settings == nil ? nil : ResidentWeights()
        func copied(_ m: WeightMatrix) throws -> WeightMatrix { try resident?.copy(m) ?? m }
        tokenEmbedding = try copied(store.matrix(TensorName.tokenEmbedding, rows: c.vocabSize, cols: c.hiddenSize))
        outputNorm = try store.vector(TensorName.outputNorm, count: c.hiddenSize)
        // Tied (HF tie_word_embeddings; GGUF without output.weight): the embedding is the output head, as
        // transformers ties it. Untied, the head is required: a folder that lacks lm_head.weight is broken.
        output = c.tieWordEmbeddings
            ? tokenEmbedding
            : try copied(store.matrix(TensorName.output, rows: c.vocabSize, cols: c.hiddenSize))
        // (The output head is rarely Q4_0 — llama-quantize stores it in Q6_K — and not repacked.)
        rope = Rope(config: c)
        layers = try (0 ..< c.layerCount).map { try LayerWeights(store: store, layer: $0, repack: repack, resident: resident) }
        var ordinal: [Int] = [], next = 0
        for l in 0 ..< c.layerCount {
            ordinal.append(c.isMoELayer(l) ? next : -1)
            if c.isMoELayer(l) { next += 1 }
        }
        moeOrdinal = ordinal
        if let settings, let resident {
            resident.releaseFilePages()
            let layout = try store.expertLayout()
            let lowBit = try settings.lowBit.map { try Self.companionLayout($0.companion, matching: layout, of: store) }
            offload = try ExpertOffload(layout: layout, settings: settings, residentWeightBytes: resident.byteCount, lowBitLayout: lowBit)
        } else {
            offload = nil
        }
    }

    /// The experts of a companion file (`--companion`, `LowBitMisses`): the same model with experts of the
    /// same shapes in smaller types. Anything else is refused with one line naming the difference.
    public static func companionLayout(_ path: String, matching main: ExpertLayout, of store: WeightStore) throws -> ExpertLayout {
        let companion = try WeightStore(path: path)
        func refuse(_ what: String) -> FormatError { .malformed(path: path, what: "not a companion of \(store.path): \(what)") }
        let a = store.config, b = companion.config
        for (name, x, y) in [("layers", a.layerCount, b.layerCount), ("experts", a.expertCount, b.expertCount),
                             ("experts per token", a.expertsPerToken, b.expertsPerToken), ("hidden size", a.hiddenSize, b.hiddenSize),
                             ("expert FFN", a.expertFFN, b.expertFFN)] where x != y {
            throw refuse("\(name) \(y), the model has \(x)")
        }
        if case let .gguf(m) = store.source, case let .gguf(c) = companion.source,
           let mine = m.metadata[CompanionKeys.sourceFingerprint]?.string, let theirs = c.metadata[CompanionKeys.sourceFingerprint]?.string,
           mine != theirs {
            throw refuse("it was quantized from other weights (\(CompanionKeys.sourceFingerprint) \(theirs), the model's \(mine))")
        }
        let layout = try companion.expertLayout()
        guard layout.isMoE == main.isMoE else { throw refuse("its MoE layers differ from the model's") }
        for id in 0 ..< main.ids where main.isMoE[id / main.experts] {
            for p in 0 ..< 3 where (layout.part(id, p).rows, layout.part(id, p).cols) != (main.part(id, p).rows, main.part(id, p).cols) {
                throw refuse("expert \(id % main.experts) of layer \(id / main.experts) has another shape")
            }
        }
        guard layout.totalBytes < main.totalBytes else {
            throw refuse("its experts (\(ByteSize.format(layout.totalBytes))) are not smaller than the model's (\(ByteSize.format(main.totalBytes)))")
        }
        return layout
    }

    /// The tokenizer, its problems reported against its file. It may not make ids the model has no rows for:
    /// the embedding lookup and the scoring of perplexity index by token id.
    static func loadTokenizer(_ store: WeightStore) throws -> Tokenizer {
        let path = store.tokenizerPath
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(spec: store.tokenizerSpec()) } catch let e as TokenizerError {
            throw FormatError.malformed(path: path, what: FormatError.clip(e.description, limit: 200))
        }
        guard tokenizer.vocabularySize <= store.config.vocabSize else {
            throw FormatError.malformed(path: path, what: "the tokenizer has \(tokenizer.vocabularySize) tokens, the model only \(store.config.vocabSize)")
        }
        return tokenizer
    }
}
