import MoEFormats
import MoEKernels
import MoEStore

/// Per-sequence state: the KV cache and every scratch buffer of the forward pass, allocated once up front
/// for `contextLength` positions and batches of up to `maxBatch` tokens. Not shared between threads
/// except inside one forward call.
public final class InferenceState: @unchecked Sendable {
    public let contextLength: Int
    public let maxBatch: Int
    /// Rows the batch buffers hold: maxBatch, or 0 for a sequence-only state (`sequenceOnly:`), which keeps a
    /// sequence's KV cache and position for `Model.forward(batch:scratch:)` and cannot run a forward call itself.
    public let bufferRows: Int
    /// Positions whose logits one forward call can return (1 for generation; the window for perplexity).
    public let logitRows: Int
    /// Tokens already in the KV cache; the next token goes at this position.
    public internal(set) var position = 0
    /// When set, every layer's routing decision for every processed token is appended here.
    public var routingLog: RoutingLog?
    /// When set, the forward pass adds every matrix product's input rows to it (calibration for moe-quantize).
    public var activationStatistics: ActivationStatistics?
    /// When set, every MoE layer uses the experts this trace recorded instead of its router's choice (a
    /// benchmark of the expert cache under real routing on a model whose own routing is not real).
    public var forcedRouting: ForcedRouting?
    /// The trace token each row of the current forward call takes (set by the call from its rows' sequences).
    var forcedRows: (trace: RoutingTrace, tokens: [Int])?
    /// Routed (token, expert) pairs and expert computations (each chosen expert once per batch) since
    /// creation: `routed - computed` is how many expert runs — weight reads — batching tokens together saved.
    public var expertCounts = (routed: 0, computed: 0)

    let keyCache: UnsafeMutablePointer<Float>    // [Σ layers' slots, kvCacheWidth.key]: kvHeads * headDim, or MLA's latent + rotary key
    let valueCache: UnsafeMutablePointer<Float>  // [Σ layers' slots, kvCacheWidth.value]: kvHeads * headDim, or nothing (MLA)
    /// Layer l's cache rows: `kvSlots[l]` rows from row `kvFirstRow[l]`. Position p is in row p % kvSlots[l]: a
    /// full-attention layer has a row per position of the context, a sliding-window layer a ring of its
    /// window plus a batch (`ModelConfig.kvSlots`).
    let kvFirstRow: [Int]
    let kvSlots: [Int]
    /// The sliding window of the window layers (nil: none), for `canRewind(to:)`.
    let windowSize: Int?
    let x: UnsafeMutablePointer<Float>           // [maxBatch, hidden] residual stream
    let xb: UnsafeMutablePointer<Float>          // [maxBatch, hidden] normed input of a sublayer
    let q: UnsafeMutablePointer<Float>           // [maxBatch, queryWidth] (heads * headDim, or heads * (nope + rope))
    let k: UnsafeMutablePointer<Float>           // [maxBatch, kvHeads * headDim], or MLA's [maxBatch, kvLoraRank + rope]
    let v: UnsafeMutablePointer<Float>           // [maxBatch, kvHeads * headDim] (unused by MLA)
    let attnOut: UnsafeMutablePointer<Float>     // [maxBatch, attentionOutputWidth] (heads * value width)
    // Multi-head latent attention only (1 float otherwise):
    let qLatent: UnsafeMutablePointer<Float>     // [maxBatch, qLoraRank] the q LoRA's bottleneck
    let qNope: UnsafeMutablePointer<Float>       // [heads, maxBatch, nopeDim] q_nope gathered head by head
    let qAbsorbed: UnsafeMutablePointer<Float>   // [maxBatch, heads, kvLoraRank + rope] (k_bᵀ·q_nope ; q_rope)
    let latentOut: UnsafeMutablePointer<Float>   // [heads, maxBatch, kvLoraRank] Σ_j p_j c_j per head
    let scores: UnsafeMutablePointer<Float>      // [threads, contextLength] attention scores per worker
    let ropeCos: UnsafeMutablePointer<Float>     // [rotaryDim / 2]
    let ropeSin: UnsafeMutablePointer<Float>     // [rotaryDim / 2]
    let ffnOut: UnsafeMutablePointer<Float>      // [maxBatch, hidden] FFN sublayer output (accumulated over experts)
    let routerLogits: UnsafeMutablePointer<Float> // [maxBatch, experts]
    let routerProbs: UnsafeMutablePointer<Float> // [experts]
    let routerChoice: UnsafeMutablePointer<Float> // [experts] choice scores (biased, group-masked)
    let predictProbs: UnsafeMutablePointer<Float> // [experts] a later layer's router on this layer's input (prefetch)
    let chosen: UnsafeMutablePointer<Int32>      // [maxBatch, k] chosen expert ids
    let chosenWeights: UnsafeMutablePointer<Float> // [maxBatch, k] their mixing weights
    let expertStart: UnsafeMutablePointer<Int32> // [experts + 1] first slot of each expert (slots grouped by expert)
    let expertFill: UnsafeMutablePointer<Int32>  // [experts] next free slot of each expert while grouping
    let slotToken: UnsafeMutablePointer<Int32>   // [maxBatch * k] token of each (token, expert) slot
    let slotWeight: UnsafeMutablePointer<Float>  // [maxBatch * k] mixing weight of each slot
    let expertIn: UnsafeMutablePointer<Float>    // [maxBatch * k, hidden] inputs gathered by slot (batches > 1)
    let gate: UnsafeMutablePointer<Float>        // [maxBatch * k, maxFFN] gate products, then silu(gate) ⊙ up
    let up: UnsafeMutablePointer<Float>          // [maxBatch * k, maxFFN]
    let expertOut: UnsafeMutablePointer<Float>   // [maxBatch * k, hidden] expert outputs by slot
    let shGate: UnsafeMutablePointer<Float>      // [maxBatch] shared-expert gate logits
    let logits: UnsafeMutablePointer<Float>      // [logitRows, vocab]
    let allocations: [(UnsafeMutablePointer<Float>, Int)]
    let intAllocations: [UnsafeMutablePointer<Int32>]
    /// The threads of every parallel part of the forward pass (the calling thread is one of them).
    public let pool: ThreadPool
    /// Float activations, or 8-bit ones for the integer kernels.
    public let precision: ActivationPrecision
    let hiddenQ: ActivationQuantizer     // xb quantized: [maxBatch, hidden] per activation type
    let attnQ: ActivationQuantizer       // attnOut quantized: [maxBatch, attentionOutputWidth]
    let latentQ: ActivationQuantizer     // qLatent quantized (MLA with a q LoRA): [maxBatch, qLoraRank]
    let nopeQ: ActivationQuantizer       // qNope quantized (MLA): [heads * maxBatch, nopeDim], head-major as qNope
    let latentOutQ: ActivationQuantizer  // latentOut quantized (MLA): [heads * maxBatch, kvLoraRank]
    let slotQ: ActivationQuantizer       // expert inputs gathered by slot: [maxBatch * k, hidden]
    let downQ: ActivationQuantizer       // silu(gate) ⊙ up by slot: [maxBatch * k, expertFFN]
    let denseDownQ: ActivationQuantizer  // dense FFN down input: [maxBatch, denseFFN]
    let sharedDownQ: ActivationQuantizer // shared expert down input: [maxBatch, sharedFFN] (a width of its own:
                                         // DeepSeek's dense first layers are wider than its shared experts)

    /// Bytes held by this state (KV cache plus scratch).
    public var byteCount: Int {
        fixedBytes + [hiddenQ, attnQ, latentQ, nopeQ, latentOutQ, slotQ, downQ, denseDownQ, sharedDownQ].reduce(0) { $0 + $1.byteCount }
    }
    private let fixedBytes: Int

    /// - contextLength: positions the KV cache holds.
    /// - maxBatch: most tokens one forward call processes at once (longer inputs are split).
    /// - logitRows: most positions whose logits one call returns (`.all` needs tokens.count ≤ logitRows).
    /// - threads: threads of the forward pass, clamped to 1 ... active processors (default: physical cores).
    /// - sequenceOnly: allocate the KV cache alone (a server's slot, whose rows run in a scratch state's buffers);
    ///   maxBatch then bounds the rows of this sequence in one batch (a sliding-window ring is sized for them).
    public init(config c: ModelConfig, contextLength: Int, maxBatch: Int = 512, logitRows: Int = 1,
                threads: Int = ThreadPool.physicalCores, precision: ActivationPrecision = .f32, sequenceOnly: Bool = false) {
        self.contextLength = contextLength
        self.maxBatch = max(1, maxBatch)
        self.logitRows = max(1, min(logitRows, self.maxBatch))
        bufferRows = sequenceOnly ? 0 : self.maxBatch
        let kvBatch = self.maxBatch
        let maxBatch = max(bufferRows, 1)   // rows of every batch buffer below
        let logitRows = sequenceOnly ? 1 : self.logitRows
        pool = ThreadPool(threads: threads)
        let slots = maxBatch * max(c.expertsPerToken, 1)
        self.precision = precision
        hiddenQ = ActivationQuantizer(cols: c.hiddenSize, capacity: maxBatch, precision: precision)
        attnQ = ActivationQuantizer(cols: c.attentionOutputWidth, capacity: maxBatch, precision: precision)
        let mla = c.latentAttention
        latentQ = ActivationQuantizer(cols: max(mla?.qLoraRank ?? 0, 1), capacity: mla?.qLoraRank ?? 0 > 0 ? maxBatch : 1, precision: precision)
        nopeQ = ActivationQuantizer(cols: max(mla?.nopeDim ?? 0, 1), capacity: mla == nil ? 1 : c.headCount * maxBatch, precision: precision)
        latentOutQ = ActivationQuantizer(cols: max(mla?.kvLoraRank ?? 0, 1), capacity: mla == nil ? 1 : c.headCount * maxBatch,
                                         precision: precision)
        slotQ = ActivationQuantizer(cols: c.hiddenSize, capacity: slots, precision: precision)
        downQ = ActivationQuantizer(cols: c.expertFFN, capacity: slots, precision: precision)
        denseDownQ = ActivationQuantizer(cols: max(c.denseFFN, 1), capacity: maxBatch, precision: precision)
        sharedDownQ = ActivationQuantizer(cols: max(c.sharedExpertFFN, 1), capacity: maxBatch, precision: precision)
        let kvDim = mla.map { $0.kvLoraRank + $0.ropeDim } ?? c.kvHeadCount * c.headDim
        let maxFFN = max(c.expertFFN, c.sharedExpertFFN, c.denseFFN)
        var allocs: [(UnsafeMutablePointer<Float>, Int)] = []
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            allocs.append((p, n))
            return p
        }
        kvSlots = (0 ..< c.layerCount).map { c.kvSlots(layer: $0, context: contextLength, maxBatch: kvBatch) }
        windowSize = c.latentAttention == nil ? c.slidingWindow?.window : nil
        kvFirstRow = kvSlots.reduce(into: [0]) { $0.append($0.last! + $1) }.dropLast()
        let kvRows = kvSlots.reduce(0, +)
        keyCache = alloc(kvRows * c.kvCacheWidth.key)
        valueCache = alloc(kvRows * c.kvCacheWidth.value)
        x = alloc(maxBatch * c.hiddenSize)
        xb = alloc(maxBatch * c.hiddenSize)
        q = alloc(maxBatch * c.queryWidth)
        k = alloc(maxBatch * kvDim)
        v = alloc(mla == nil ? maxBatch * kvDim : 0)
        attnOut = alloc(maxBatch * c.attentionOutputWidth)
        qLatent = alloc(maxBatch * (mla?.qLoraRank ?? 0))
        qNope = alloc(mla.map { maxBatch * c.headCount * $0.nopeDim } ?? 0)
        qAbsorbed = alloc(mla.map { maxBatch * c.headCount * ($0.kvLoraRank + $0.ropeDim) } ?? 0)
        latentOut = alloc(mla.map { maxBatch * c.headCount * $0.kvLoraRank } ?? 0)
        scores = alloc(sequenceOnly ? 0 : pool.threadCount * contextLength)
        ropeCos = alloc(c.rotaryDim / 2)
        ropeSin = alloc(c.rotaryDim / 2)
        ffnOut = alloc(maxBatch * c.hiddenSize)
        routerLogits = alloc(maxBatch * max(c.expertCount, 1))
        routerProbs = alloc(max(c.expertCount, 1))
        routerChoice = alloc(max(c.expertCount, 1))
        predictProbs = alloc(max(c.expertCount, 1))
        chosenWeights = alloc(maxBatch * max(c.expertsPerToken, 1))
        slotWeight = alloc(slots)
        expertIn = alloc(slots * c.hiddenSize)
        gate = alloc(slots * maxFFN)
        up = alloc(slots * maxFFN)
        expertOut = alloc(slots * c.hiddenSize)
        shGate = alloc(maxBatch)
        logits = alloc(sequenceOnly ? 0 : logitRows * c.vocabSize)
        chosen = .allocate(capacity: slots)
        slotToken = .allocate(capacity: slots)
        expertStart = .allocate(capacity: c.expertCount + 1)
        expertFill = .allocate(capacity: max(c.expertCount, 1))
        allocations = allocs
        intAllocations = [chosen, slotToken, expertStart, expertFill]
        fixedBytes = allocs.reduce(0) { $0 + $1.1 * 4 } + (2 * slots + 2 * c.expertCount + 1) * 4
    }

    deinit {
        for (p, _) in allocations { p.deallocate() }
        for p in intAllocations { p.deallocate() }
    }

    /// Forgets the sequence: the next token is at position 0. (A forced routing trace goes on where it was.)
    public func reset() { position = 0 }

    /// Whether the cache still holds what position `p` (≤ `position`) attends to. A full-attention layer keeps
    /// every position; a sliding-window layer's ring of `kvSlots` rows holds positions position - kvSlots ..<
    /// position, and position p needs p - window + 1 ..< p, so it may step back at most kvSlots - window.
    public func canRewind(to p: Int) -> Bool {
        guard p >= 0, p <= position else { return false }
        guard let window = windowSize else { return true }
        for l in kvSlots.indices where kvSlots[l] < contextLength && position - p > kvSlots[l] - window { return false }
        return true
    }

    /// Forgets the positions from `p` on, keeping the keys and values of 0 ..< p: the next token is at `p`.
    /// Returns false, changing nothing, when the state cannot (`canRewind(to:)`).
    @discardableResult
    public func rewind(to p: Int) -> Bool {
        guard canRewind(to: p) else { return false }
        position = p
        return true
    }
}

/// A routing trace replayed in place of the routers: token i of a sequence's run (counted over every forward
/// call, wrapping at the trace's end) takes the trace's token `next + i`, every MoE layer its recorded experts
/// with equal weights. Each sequence carries its own; in a batch of several sequences (a server's slots) each
/// row follows its sequence's. What the model then writes is meaningless; what the expert cache does is real.
public struct ForcedRouting: Sendable {
    public let trace: RoutingTrace
    /// The trace token the next processed token takes (any value; taken modulo the trace's length).
    public var next = 0

    /// `trace` must have one layer per MoE layer of `model`, its expert count and its top-k.
    public init(trace: RoutingTrace, model: Model, path: String) throws {
        let c = model.config
        let moeLayers = (0 ..< c.layerCount).filter(c.isMoELayer).count
        guard trace.layers == moeLayers, trace.experts == c.expertCount, trace.k == c.expertsPerToken else {
            throw OffloadError.traceMismatch(path: path, what:
                "it has \(trace.layers) layers × \(trace.experts) experts, top-\(trace.k); the model \(moeLayers) MoE layers × \(c.expertCount) experts, top-\(c.expertsPerToken)")
        }
        self.trace = trace
    }

    /// The same trace starting at the first token of document `n` (modulo the trace's documents).
    public func startingAtDocument(_ n: Int) -> ForcedRouting {
        var copy = self
        let starts = trace.documentStarts
        copy.next = starts.isEmpty ? 0 : starts[((n % starts.count) + starts.count) % starts.count]
        return copy
    }

    /// Each row's trace token: the row's sequence's `next` plus the rows of that sequence before it in this
    /// call. nil when no row's sequence is forced; a row whose sequence is not forced while others are is
    /// a programming error.
    static func rows(_ sequences: [InferenceState]) -> (trace: RoutingTrace, tokens: [Int])? {
        guard let trace = sequences.first?.forcedRouting?.trace else {
            precondition(sequences.allSatisfy { $0.forcedRouting == nil }, "forced routing on some rows of a batch only")
            return nil
        }
        var seen: [ObjectIdentifier: Int] = [:]
        let tokens = sequences.map { sequence -> Int in
            guard let forced = sequence.forcedRouting else { preconditionFailure("forced routing on some rows of a batch only") }
            let offset = seen[ObjectIdentifier(sequence), default: 0]
            seen[ObjectIdentifier(sequence)] = offset + 1
            return ((forced.next + offset) % trace.tokens + trace.tokens) % trace.tokens
        }
        return (trace, tokens)
    }
}
