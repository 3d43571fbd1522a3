import MoEFormats

/// Per-sequence state: the KV cache and every scratch buffer of the forward pass, allocated once up front
/// for `contextLength` positions and batches of up to `maxBatch` tokens. Not shared between threads
/// except inside one forward call.
public final class InferenceState: @unchecked Sendable {
    public let contextLength: Int
    public let maxBatch: Int
    /// Positions whose logits one forward call can return (1 for generation; the window for perplexity).
    public let logitRows: Int
    /// Tokens already in the KV cache; the next token goes at this position.
    public internal(set) var position = 0
    /// When set, every layer's routing decision for every processed token is appended here.
    public var routingLog: RoutingLog?

    let keyCache: UnsafeMutablePointer<Float>    // [layers, contextLength, kvHeads * headDim]
    let valueCache: UnsafeMutablePointer<Float>  // [layers, contextLength, kvHeads * headDim]
    let x: UnsafeMutablePointer<Float>           // [maxBatch, hidden] residual stream
    let xb: UnsafeMutablePointer<Float>          // [maxBatch, hidden] normed input of a sublayer
    let q: UnsafeMutablePointer<Float>           // [maxBatch, heads * headDim]
    let k: UnsafeMutablePointer<Float>           // [maxBatch, kvHeads * headDim]
    let v: UnsafeMutablePointer<Float>           // [maxBatch, kvHeads * headDim]
    let attnOut: UnsafeMutablePointer<Float>     // [maxBatch, heads * headDim]
    let scores: UnsafeMutablePointer<Float>      // [threads, contextLength] attention scores per worker
    let ropeCos: UnsafeMutablePointer<Float>     // [headDim / 2]
    let ropeSin: UnsafeMutablePointer<Float>     // [headDim / 2]
    let ffnOut: UnsafeMutablePointer<Float>      // [maxBatch, hidden] FFN sublayer output (accumulated over experts)
    let routerLogits: UnsafeMutablePointer<Float> // [maxBatch, experts]
    let routerProbs: UnsafeMutablePointer<Float> // [experts]
    let chosen: UnsafeMutablePointer<Int32>      // [maxBatch, k] chosen expert ids
    let chosenWeights: UnsafeMutablePointer<Float> // [maxBatch, k] their mixing weights
    let expertTokens: UnsafeMutablePointer<Int32>  // [maxBatch] tokens routed to the current expert
    let expertWeights: UnsafeMutablePointer<Float> // [maxBatch] their weights for that expert
    let expertIn: UnsafeMutablePointer<Float>    // [maxBatch, hidden] gathered inputs of one expert
    let gate: UnsafeMutablePointer<Float>        // [maxBatch, maxFFN]
    let up: UnsafeMutablePointer<Float>          // [maxBatch, maxFFN]
    let expertOut: UnsafeMutablePointer<Float>   // [maxBatch, hidden]
    let shGate: UnsafeMutablePointer<Float>      // [maxBatch] shared-expert gate logits
    let logits: UnsafeMutablePointer<Float>      // [logitRows, vocab]
    let allocations: [(UnsafeMutablePointer<Float>, Int)]
    let intAllocations: [UnsafeMutablePointer<Int32>]
    let workers: Int

    /// Bytes held by this state (KV cache plus scratch).
    public let byteCount: Int

    /// - contextLength: positions the KV cache holds.
    /// - maxBatch: most tokens one forward call processes at once (longer inputs are split).
    /// - logitRows: most positions whose logits one call returns (`.all` needs tokens.count ≤ logitRows).
    public init(config c: ModelConfig, contextLength: Int, maxBatch: Int = 512, logitRows: Int = 1, workers: Int = 2) {
        self.contextLength = contextLength
        self.maxBatch = max(1, maxBatch)
        self.logitRows = max(1, min(logitRows, self.maxBatch))
        let maxBatch = self.maxBatch
        self.workers = max(1, workers)
        let qDim = c.headCount * c.headDim, kvDim = c.kvHeadCount * c.headDim
        let maxFFN = max(c.expertFFN, c.sharedExpertFFN, c.denseFFN)
        var allocs: [(UnsafeMutablePointer<Float>, Int)] = []
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            allocs.append((p, n))
            return p
        }
        keyCache = alloc(c.layerCount * contextLength * kvDim)
        valueCache = alloc(c.layerCount * contextLength * kvDim)
        x = alloc(maxBatch * c.hiddenSize)
        xb = alloc(maxBatch * c.hiddenSize)
        q = alloc(maxBatch * qDim)
        k = alloc(maxBatch * kvDim)
        v = alloc(maxBatch * kvDim)
        attnOut = alloc(maxBatch * qDim)
        scores = alloc(self.workers * contextLength)
        ropeCos = alloc(c.headDim / 2)
        ropeSin = alloc(c.headDim / 2)
        ffnOut = alloc(maxBatch * c.hiddenSize)
        routerLogits = alloc(maxBatch * max(c.expertCount, 1))
        routerProbs = alloc(max(c.expertCount, 1))
        chosenWeights = alloc(maxBatch * max(c.expertsPerToken, 1))
        expertWeights = alloc(maxBatch)
        expertIn = alloc(maxBatch * c.hiddenSize)
        gate = alloc(maxBatch * maxFFN)
        up = alloc(maxBatch * maxFFN)
        expertOut = alloc(maxBatch * c.hiddenSize)
        shGate = alloc(maxBatch)
        logits = alloc(self.logitRows * c.vocabSize)
        chosen = .allocate(capacity: maxBatch * max(c.expertsPerToken, 1))
        expertTokens = .allocate(capacity: maxBatch)
        allocations = allocs
        intAllocations = [chosen, expertTokens]
        byteCount = allocs.reduce(0) { $0 + $1.1 * 4 } + (maxBatch * max(c.expertsPerToken, 1) + maxBatch) * 4
    }

    deinit {
        for (p, _) in allocations { p.deallocate() }
        for p in intAllocations { p.deallocate() }
    }

    /// Forgets the sequence: the next token is at position 0.
    public func reset() { position = 0 }
}
