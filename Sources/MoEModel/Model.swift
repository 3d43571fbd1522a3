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
    /// For each layer, its index among the MoE layers (-1 for a dense layer): a routing trace's layer axis.
    let moeOrdinal: [Int]

    /// Opens a GGUF file or a Hugging Face folder and resolves every tensor the forward pass needs.
    /// `repack`: which matrices keep their rows repacked (`RepackPolicy`). The default, `.replacing`, repacks only
    /// where the copy serves every product and the row-major pages are then released (one copy in memory: Q4_0
    /// and MXFP4 where the AVX-512 kernels run); `.all` adds the decode-only layouts at the cost of a second copy
    /// of those weights (as llama.cpp's default repacking does). Offloaded models repack only with `.all`.
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
            offload = try ExpertOffload(layout: store.expertLayout(), settings: settings, residentWeightBytes: resident.byteCount)
        } else {
            offload = nil
        }
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
