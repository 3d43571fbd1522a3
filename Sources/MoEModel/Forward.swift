import Foundation
import MoEFormats
import MoEKernels
import MoEStore

/// Errors of running a model (as opposed to loading one).
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case contextFull(position: Int, tokens: Int, contextLength: Int)
    case tokenOutOfRange(id: Int, vocabSize: Int)
    case emptyInput
    case tooManyLogitRows(tokens: Int, logitRows: Int)
    /// A batch of sequences that breaks `forward(batch:)`'s rules (a caller's bug, reported rather than trapped).
    case invalidBatch(String)

    public var description: String {
        switch self {
        case let .contextFull(p, n, c): return "context full: \(p) tokens cached + \(n) new exceeds the context length \(c)"
        case let .tokenOutOfRange(id, v): return "token id \(id) is outside the vocabulary (0..<\(v))"
        case .emptyInput: return "no input tokens"
        case let .tooManyLogitRows(n, r): return "logits for all \(n) positions asked of a state sized for \(r)"
        case let .invalidBatch(why): return "invalid batch: \(why)"
        }
    }
}

/// Which positions' logits a forward call computes.
public enum LogitsWanted: Sendable {
    case none, last, all
    /// These rows' logits (indices into the batch, ascending), in that order: a batched step that needs a token
    /// from some rows only (a prompt chunk's last row, not the rows before it) computes no output head for the rest.
    case rows([Int])
}

extension Model {
    /// Runs `tokens` through the model at positions `state.position …`, appending their keys and values to
    /// the KV cache. Returns the requested logits, `[1 or tokens.count, vocab]`, valid until the next call.
    @discardableResult
    public func forward(_ tokens: [Int], state: InferenceState, logits wanted: LogitsWanted = .last) throws -> UnsafeBufferPointer<Float> {
        guard !tokens.isEmpty else { throw InferenceError.emptyInput }
        guard state.position + tokens.count <= state.contextLength else {
            throw InferenceError.contextFull(position: state.position, tokens: tokens.count, contextLength: state.contextLength)
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw InferenceError.tokenOutOfRange(id: bad, vocabSize: config.vocabSize)
        }
        // Long inputs go through in batches of maxBatch; only the last batch's logits are kept unless all are wanted.
        if case .rows = wanted, tokens.count > state.maxBatch {
            throw InferenceError.invalidBatch("logits of chosen rows need the tokens in one batch (at most maxBatch \(state.maxBatch))")
        }
        if case .all = wanted, tokens.count > state.logitRows {
            throw InferenceError.tooManyLogitRows(tokens: tokens.count, logitRows: state.logitRows)
        }
        if tokens.count > state.maxBatch {
            var start = 0
            var out = UnsafeBufferPointer<Float>(start: nil, count: 0)
            while start < tokens.count {
                let end = min(tokens.count, start + state.maxBatch)
                out = try forward(Array(tokens[start ..< end]), state: state, logits: end == tokens.count ? wanted : .none)
                start = end
            }
            return out
        }
        let rows = RowPlacement(sequence: state, from: state.position, count: tokens.count)
        return try run(tokens, rows: rows, scratch: state, logits: wanted)
    }

    /// Runs one batch of rows from several sequences: each row a token of one sequence, the rows of a sequence
    /// consecutive and in order, at positions `sequence.position …`. Each sequence's state holds its own KV
    /// cache and position; `scratch` lends the buffers of the batch (its maxBatch and logitRows ≥ rows, its
    /// context ≥ every sequence's). The feed-forward part — each chosen expert's weights — runs once for all
    /// rows; attention per row in its own sequence. Returns the logits of every row, `[rows, vocab]`, valid
    /// until the next call; `logitRows`: only these rows' (ascending indices), `[logitRows.count, vocab]` in that
    /// order. A sequence's rows are as many as its state's maxBatch at most (its sliding-window ring is sized for that).
    @discardableResult
    public func forward(batch: [(token: Int, sequence: InferenceState)], scratch: InferenceState,
                        logitRows: [Int]? = nil) throws -> UnsafeBufferPointer<Float> {
        guard !batch.isEmpty else { throw InferenceError.emptyInput }
        guard batch.count <= scratch.bufferRows else {
            throw InferenceError.invalidBatch("\(batch.count) rows exceed the scratch state's \(scratch.bufferRows)")
        }
        guard (logitRows?.count ?? batch.count) <= scratch.logitRows else {
            throw InferenceError.tooManyLogitRows(tokens: logitRows?.count ?? batch.count, logitRows: scratch.logitRows)
        }
        var rows = RowPlacement()
        var counts: [ObjectIdentifier: Int] = [:]
        var done: Set<ObjectIdentifier> = []
        var previous: ObjectIdentifier?
        for (token, sequence) in batch {
            if token < 0 || token >= config.vocabSize { throw InferenceError.tokenOutOfRange(id: token, vocabSize: config.vocabSize) }
            let id = ObjectIdentifier(sequence)
            if id != previous, let p = previous { done.insert(p) }
            if done.contains(id) { throw InferenceError.invalidBatch("the rows of a sequence must be consecutive") }
            previous = id
            let offset = counts[id, default: 0]
            counts[id] = offset + 1
            guard sequence.position + offset < sequence.contextLength else {
                throw InferenceError.contextFull(position: sequence.position, tokens: offset + 1, contextLength: sequence.contextLength)
            }
            if offset >= sequence.maxBatch { throw InferenceError.invalidBatch("more rows of one sequence than its maxBatch \(sequence.maxBatch)") }
            if sequence.contextLength > scratch.contextLength {
                throw InferenceError.invalidBatch("a sequence's context \(sequence.contextLength) exceeds the scratch state's \(scratch.contextLength)")
            }
            rows.sequences.append(sequence)
            rows.positions.append(sequence.position + offset)
        }
        return try run(batch.map(\.token), rows: rows, scratch: scratch, logits: logitRows.map { .rows($0) } ?? .all)
    }

    /// The forward pass of `tokens` placed by `rows`, with the buffers of `state`.
    private func run(_ tokens: [Int], rows: RowPlacement, scratch state: InferenceState, logits wanted: LogitsWanted) throws -> UnsafeBufferPointer<Float> {
        let n = tokens.count
        guard n <= state.bufferRows else {
            throw InferenceError.invalidBatch(state.bufferRows == 0 ? "a sequence-only state holds no batch buffers: run its rows through forward(batch:scratch:)"
                                                                    : "\(n) rows exceed the state's \(state.bufferRows)")
        }
        let c = config
        let h = c.hiddenSize
        if case .rows(let r) = wanted {
            guard !zip(r, r.dropFirst()).contains(where: { $0 >= $1 }), r.allSatisfy({ (0 ..< n).contains($0) }), r.count <= state.logitRows else {
                throw InferenceError.invalidBatch("logit rows must be at most \(state.logitRows) ascending indices of the \(n) rows")
            }
        }
        // Offloaded experts: the cache is made at the first call, once this state is counted in the budget.
        // Experts are repacked as they enter the cache when the first call computes on 8-bit activations (the
        // kernels of the repacked layouts take no others).
        let cache = try offload?.cache(repackInPlace: repack != .none && state.precision == .q8)
        if let cache, cache.options.repackInPlace, state.precision != .q8 {
            throw InferenceError.invalidBatch("the expert cache holds experts repacked for 8-bit activations; float activations need a model opened without repacking (--no-repack)")
        }
        state.forcedRows = ForcedRouting.rows(rows.sequences)

        // Token embeddings → residual stream x [n, hidden].
        for (t, id) in tokens.enumerated() {
            Dequantize.row(type: tokenEmbedding.type, src: tokenEmbedding.row(id), dst: state.x + t * h, count: h)
        }
        if let cache, n == 1, cache.predictor != nil, let first = nextMoELayer(after: -1) {
            // The first MoE layers' experts, guessed from their routers on the embedding, load during attention.
            Ops.rmsNorm(state.x, layers[first].ffnNorm, state.xb, n: h, eps: c.rmsNormEps)
            state.hiddenQ.invalidate()
            prefetchNextLayer(after: -1, cache: cache, state: state)
        }
        for l in 0 ..< c.layerCount {
            attention(layer: l, n: n, rows: rows, state: state)
            try feedForward(layer: l, n: n, state: state, cache: cache)
        }
        rows.advance()
        if state.forcedRows != nil { for sequence in rows.sequences { sequence.forcedRouting?.next += 1 } }
        cache?.countTokens(n)

        // Final norm and output head for the wanted positions.
        let picked: [Int]
        switch wanted {
        case .none: return UnsafeBufferPointer(start: nil, count: 0)
        case .last: picked = [n - 1]
        case .all: picked = Array(0 ..< n)
        case .rows(let r): picked = r
        }
        let rows = picked.count
        guard rows > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        for (i, t) in picked.enumerated() {
            Ops.rmsNorm(state.x + t * h, outputNorm, state.xb + i * h, n: h, eps: c.rmsNormEps)
        }
        state.activationStatistics?.add(.outputInput, rows: state.xb, n: rows, width: h)
        state.hiddenQ.invalidate()
        MatMul.run([MatMul.Product(output, x: state.xb, n: rows, y: state.logits,
                                   xq: state.hiddenQ.activations(for: output, x: state.xb, n: rows))], pool: state.pool)
        return UnsafeBufferPointer(start: state.logits, count: rows * c.vocabSize)
    }

    /// x += Wo · attention(norm(x)) for `n` tokens at positions state.position ..< +n: the config's
    /// attention block, grouped-query or multi-head latent.
    private func attention(layer l: Int, n: Int, rows: RowPlacement, state s: InferenceState) {
        let c = config, w = layers[l], h = c.hiddenSize
        for t in 0 ..< n { Ops.rmsNorm(s.x + t * h, w.attnNorm, s.xb + t * h, n: h, eps: c.rmsNormEps) }
        s.activationStatistics?.add(.attentionInput(layer: l), rows: s.xb, n: n, width: h)
        s.hiddenQ.invalidate()
        let wo: WeightMatrix
        if let weights = w.grouped {
            groupedQueryAttention(layer: l, weights, n: n, rows: rows, state: s)
            wo = weights.wo
        } else {
            let weights = w.latent!
            latentAttention(layer: l, weights, n: n, rows: rows, state: s)
            wo = weights.wo
        }
        s.activationStatistics?.add(.attentionOutput(layer: l), rows: s.attnOut, n: n, width: c.attentionOutputWidth)
        s.attnQ.invalidate()
        MatMul.run([MatMul.Product(wo, x: s.attnOut, n: n, y: s.xb,
                                   xq: s.attnQ.activations(for: wo, x: s.attnOut, n: n))], pool: s.pool)
        if let bo = w.grouped?.bo {
            for t in 0 ..< n { for i in 0 ..< h { s.xb[t * h + i] += bo[i] } }
        }
        for i in 0 ..< n * h { s.x[i] += s.xb[i] }
    }

    /// One product of the normed hidden rows `xb`.
    private func hiddenProduct(_ m: WeightMatrix, _ y: UnsafeMutablePointer<Float>, n: Int, state s: InferenceState) -> MatMul.Product {
        MatMul.Product(m, x: s.xb, n: n, y: y, xq: s.hiddenQ.activations(for: m, x: s.xb, n: n))
    }

    /// Grouped-query attention of xb into attnOut [n, heads * headDim]: q, k, v (+ biases), q/k RMSNorm,
    /// rotary on the first `rotaryDim` of each head, keys and values appended to the cache, causal softmax.
    private func groupedQueryAttention(layer l: Int, _ w: GroupedAttentionWeights, n: Int, rows: RowPlacement, state s: InferenceState) {
        let c = config, hd = c.headDim
        let qDim = c.headCount * hd, kvDim = c.kvHeadCount * hd
        MatMul.run([hiddenProduct(w.wq, s.q, n: n, state: s), hiddenProduct(w.wk, s.k, n: n, state: s),
                    hiddenProduct(w.wv, s.v, n: n, state: s)], pool: s.pool)
        for t in 0 ..< n {
            let q = s.q + t * qDim, k = s.k + t * kvDim, v = s.v + t * kvDim
            if let b = w.bq { for i in 0 ..< qDim { q[i] += b[i] } }
            if let b = w.bk { for i in 0 ..< kvDim { k[i] += b[i] } }
            if let b = w.bv { for i in 0 ..< kvDim { v[i] += b[i] } }
            switch c.qkNorm {
            case .none: break
            case .perHead:
                for hh in 0 ..< c.headCount { Ops.rmsNorm(q + hh * hd, w.qNorm!, q + hh * hd, n: hd, eps: c.rmsNormEps) }
                for hh in 0 ..< c.kvHeadCount { Ops.rmsNorm(k + hh * hd, w.kNorm!, k + hh * hd, n: hd, eps: c.rmsNormEps) }
            case .whole:
                Ops.rmsNorm(q, w.qNorm!, q, n: qDim, eps: c.rmsNormEps)
                Ops.rmsNorm(k, w.kNorm!, k, n: kvDim, eps: c.rmsNormEps)
            }
            if let clip = c.clipQKV {
                for i in 0 ..< qDim { q[i] = min(max(q[i], -clip), clip) }
                for i in 0 ..< kvDim { k[i] = min(max(k[i], -clip), clip); v[i] = min(max(v[i], -clip), clip) }
            }
            let pos = rows.positions[t], kv = rows.sequences[t]
            rope.angles(position: pos, cos: s.ropeCos, sin: s.ropeSin)
            rope.rotate(q, heads: c.headCount, stride: hd, cos: s.ropeCos, sin: s.ropeSin)
            rope.rotate(k, heads: c.kvHeadCount, stride: hd, cos: s.ropeCos, sin: s.ropeSin)
            // Append to the row's sequence's KV cache: layer l's row for this position.
            let slot = (kv.kvFirstRow[l] + pos % kv.kvSlots[l]) * kvDim
            (kv.keyCache + slot).update(from: k, count: kvDim)
            (kv.valueCache + slot).update(from: v, count: kvDim)
        }

        // Causal attention of each (token, head) over its sequence's cached positions 0 ... pos; the
        // (token, head) pairs are handed out to the pool's threads when there is enough of them to pay for a job.
        let group = c.headCount / c.kvHeadCount
        let scale = c.attentionScaleFactor / Float(hd).squareRoot()
        // A sliding-window layer sees positions pos - window + 1 ... pos.
        let window = c.slidingWindow.flatMap { $0.layers.contains(l) ? $0.window : nil } ?? Int.max
        let span = min(window, rows.maxPosition + 1)
        let work = n * c.headCount * span * hd
        let sinks = w.sinks
        s.pool.forEach(n * c.headCount, parallel: work >= MatMul.minParallelWork) { item, worker in
            let t = item / c.headCount, hh = item % c.headCount
            let pos = rows.positions[t], kv = rows.sequences[t]
            let keys = kv.keyCache + kv.kvFirstRow[l] * kvDim
            let values = kv.valueCache + kv.kvFirstRow[l] * kvDim
            let ring = kv.kvSlots[l]
            let first = pos - min(pos, window - 1)
            let scores = s.scores + worker * s.contextLength
            let q = s.q + t * qDim + hh * hd
            let kvOff = (hh / group) * hd
            for j in first ... pos {
                // The C dot product: Swift does not reassociate a float sum, so its loop would be scalar.
                scores[j] = Kernels.dot(q, keys + (j % ring) * kvDim + kvOff, count: hd) * scale
            }
            if let sinks {
                Ops.softmax(scores + first, n: pos + 1 - first, sink: sinks[hh])
            } else {
                Ops.softmax(scores + first, n: pos + 1 - first)
            }
            // out = Σ_j p_j · v_j over the cached values (in C: the head's output stays in registers).
            Kernels.weightedRows(into: s.attnOut + t * qDim + hh * hd, weights: scores, rows: values + kvOff, stride: kvDim, ring: ring,
                                 first: first, last: pos, count: hd)
        }
    }

    /// Multi-head latent attention of xb into attnOut [n, heads * valueDim], in the absorbed form
    /// (`LatentAttentionWeights`): the cache row of a position is [c (kvLoraRank) ; k_rope (rope)], each head's
    /// query is absorbed into the same space, [k_bᵀ·q_nope ; q_rope], so a score is one dot product, and the
    /// weighted sum of latents is projected by the head's v_b afterwards.
    private func latentAttention(layer l: Int, _ w: LatentAttentionWeights, n: Int, rows: RowPlacement, state s: InferenceState) {
        let c = config, m = c.latentAttention!, heads = c.headCount
        let qk = m.qkDim, row = m.kvLoraRank + m.ropeDim
        // q (through the LoRA bottleneck where there is one) and [c ; k_rope].
        if let qA = w.qA {
            MatMul.run([hiddenProduct(qA, s.qLatent, n: n, state: s), hiddenProduct(w.kvA, s.k, n: n, state: s)], pool: s.pool)
            for t in 0 ..< n {
                Ops.rmsNorm(s.qLatent + t * m.qLoraRank, w.qANorm!, s.qLatent + t * m.qLoraRank, n: m.qLoraRank, eps: m.latentNormEps)
            }
            s.latentQ.invalidate()
            MatMul.run([MatMul.Product(w.q, x: s.qLatent, n: n, y: s.q,
                                       xq: s.latentQ.activations(for: w.q, x: s.qLatent, n: n))], pool: s.pool)
        } else {
            MatMul.run([hiddenProduct(w.q, s.q, n: n, state: s), hiddenProduct(w.kvA, s.k, n: n, state: s)], pool: s.pool)
        }
        // A sequence's layer-l cache: every position (MLA has no window).
        func cache(_ t: Int) -> UnsafeMutablePointer<Float> { rows.sequences[t].keyCache + rows.sequences[t].kvFirstRow[l] * row }
        for t in 0 ..< n {
            let pos = rows.positions[t]
            let kv = s.k + t * row, q = s.q + t * heads * qk
            Ops.rmsNorm(kv, w.kvANorm, kv, n: m.kvLoraRank, eps: m.latentNormEps)
            rope.angles(position: pos, cos: s.ropeCos, sin: s.ropeSin)
            rope.rotate(kv + m.kvLoraRank, heads: 1, stride: m.ropeDim, cos: s.ropeCos, sin: s.ropeSin)
            rope.rotate(q + m.nopeDim, heads: heads, stride: qk, cos: s.ropeCos, sin: s.ropeSin)
            (cache(t) + pos * row).update(from: kv, count: row)
            for hh in 0 ..< heads {
                (s.qNope + (hh * n + t) * m.nopeDim).update(from: q + hh * qk, count: m.nopeDim)
                (s.qAbsorbed + (t * heads + hh) * row + m.kvLoraRank).update(from: q + hh * qk + m.nopeDim, count: m.ropeDim)
            }
        }
        // Absorbed queries: k_b[h] · q_nope for every head, tokens as rows ([heads, n, nope] in). On the 8-bit
        // path every head's q_nope is quantized at once (rows h·n + t), as llama.cpp's batched product does.
        s.nopeQ.invalidate()
        let nopeQ = s.nopeQ.activations(for: w.kB[0], x: s.qNope, n: heads * n)
        MatMul.run((0 ..< heads).map { hh in
            MatMul.Product(w.kB[hh], x: s.qNope + hh * n * m.nopeDim, n: n, y: s.qAbsorbed + hh * row, yStride: heads * row,
                           xq: nopeQ, xqRow: hh * n)
        }, pool: s.pool)

        let scale = c.attentionScaleFactor / Float(qk).squareRoot()
        let work = n * heads * (rows.maxPosition + 1) * row
        s.pool.forEach(n * heads, parallel: work >= MatMul.minParallelWork) { item, worker in
            let t = item / heads, hh = item % heads
            let pos = rows.positions[t], cache = cache(t)
            let scores = s.scores + worker * s.contextLength
            let q = s.qAbsorbed + (t * heads + hh) * row
            for j in 0 ... pos { scores[j] = Kernels.dot(q, cache + j * row, count: row) * scale }
            Ops.softmax(scores, n: pos + 1)
            Kernels.weightedRows(into: s.latentOut + (hh * n + t) * m.kvLoraRank, weights: scores, rows: cache, stride: row, ring: pos + 1,
                                 first: 0, last: pos, count: m.kvLoraRank)
        }
        // Each head's value: v_b[h] · Σ p c, into attnOut [n, heads * valueDim].
        let vDim = heads * m.valueDim
        s.latentOutQ.invalidate()
        let latentOutQ = s.latentOutQ.activations(for: w.vB[0], x: s.latentOut, n: heads * n)
        MatMul.run((0 ..< heads).map { hh in
            MatMul.Product(w.vB[hh], x: s.latentOut + hh * n * m.kvLoraRank, n: n, y: s.attnOut + hh * m.valueDim, yStride: vDim,
                           xq: latentOutQ, xqRow: hh * n)
        }, pool: s.pool)
    }

    /// x += FFN(norm(x)): the routed experts (plus a shared expert where present), or a dense FFN.
    private func feedForward(layer l: Int, n: Int, state s: InferenceState, cache: ExpertCache?) throws {
        let c = config, w = layers[l], h = c.hiddenSize
        for t in 0 ..< n { Ops.rmsNorm(s.x + t * h, w.ffnNorm, s.xb + t * h, n: h, eps: c.rmsNormEps) }
        s.activationStatistics?.add(.ffnInput(layer: l), rows: s.xb, n: n, width: h)
        s.hiddenQ.invalidate()
        s.ffnOut.update(repeating: 0, count: n * h)

        if let dense = w.dense {
            runExpert(dense, layer: l, n: n, state: s)
            for i in 0 ..< n * h { s.ffnOut[i] = s.expertOut[i] }
        }
        if let router = w.router {
            try routedExperts(layer: l, router: router, n: n, state: s, cache: cache)
            if let shared = w.shared {
                runExpert(shared, layer: l, n: n, state: s)
                if let sharedGate = w.sharedGate {
                    MatMul.run([MatMul.Product(sharedGate, x: s.xb, n: n, y: s.shGate,
                                               xq: s.hiddenQ.activations(for: sharedGate, x: s.xb, n: n))], pool: s.pool)
                }
                for t in 0 ..< n {
                    let g = w.sharedGate == nil ? 1 : 1 / (1 + expf(-s.shGate[t]))
                    let out = s.ffnOut + t * h, y = s.expertOut + t * h
                    for d in 0 ..< h { out[d] += g * y[d] }
                }
            }
        }
        for i in 0 ..< n * h { s.x[i] += s.ffnOut[i] }
    }

    /// ffnOut += Σ over each token's chosen experts of weight · expert(xb).
    ///
    /// The n·k (token, expert) pairs are grouped by expert into "slots" (expert ascending, tokens in order
    /// within an expert), so each chosen expert runs once over all its tokens and its weights are streamed
    /// once per batch. The chosen experts are taken in groups (all at once unless the expert cache holds
    /// fewer): a group's gate and up products run in one parallel region, its down products in a second;
    /// the weighted sum into each token's row is then added in slot order, which depends neither on the
    /// number of threads nor on the grouping.
    private func routedExperts(layer l: Int, router: WeightMatrix, n: Int, state s: InferenceState, cache: ExpertCache?) throws {
        let c = config, w = layers[l], h = c.hiddenSize
        let k = c.expertsPerToken, e = c.expertCount
        MatMul.run([MatMul.Product(router, x: s.xb, n: n, y: s.routerLogits,
                                   xq: s.hiddenQ.activations(for: router, x: s.xb, n: n))], pool: s.pool)
        if let b = w.routerLogitBias {
            for t in 0 ..< n { for x in 0 ..< e { s.routerLogits[t * e + x] += b[x] } }
        }
        (w.routerBias ?? []).withUnsafeBufferPointer { bias in
            for t in 0 ..< n {
                Router.route(logits: s.routerLogits + t * e, n: e, k: k, renormalize: c.normTopKProb, rule: c.routing,
                             bias: bias.isEmpty ? nil : bias.baseAddress, probs: s.routerProbs, choice: s.routerChoice,
                             experts: s.chosen + t * k, weights: s.chosenWeights + t * k)
            }
        }
        if let forced = s.forcedRows {
            for t in 0 ..< n {
                let ids = forced.trace.experts(token: forced.tokens[t], layer: moeOrdinal[l])
                for (j, x) in ids.enumerated() {
                    s.chosen[t * k + j] = Int32(x)
                    s.chosenWeights[t * k + j] = 1 / Float(k)
                }
            }
        }
        if s.routingLog != nil {
            for t in 0 ..< n {
                s.routingLog!.layers[l].append(RoutingDecision(
                    experts: (0 ..< k).map { Int(s.chosen[t * k + $0]) },
                    weights: (0 ..< k).map { s.chosenWeights[t * k + $0] }))
            }
        }
        if n == 1, let predictor = cache?.predictor {
            predictor.observe(layer: l, chosen: (0 ..< k).map { Int(s.chosen[$0]) })
        }
        // Counting sort of the n·k pairs by expert: expertStart[x] is expert x's first slot.
        s.expertStart.update(repeating: 0, count: e + 1)
        for i in 0 ..< n * k { s.expertStart[Int(s.chosen[i]) + 1] += 1 }
        for x in 0 ..< e { s.expertStart[x + 1] += s.expertStart[x] }
        s.expertFill.update(from: s.expertStart, count: e)
        for t in 0 ..< n {
            for j in 0 ..< k {
                let x = Int(s.chosen[t * k + j])
                let slot = Int(s.expertFill[x])
                s.expertFill[x] += 1
                s.slotToken[slot] = Int32(t)
                s.slotWeight[slot] = s.chosenWeights[t * k + j]
            }
        }
        // Inputs by slot. One token: every slot's input is that token's row, used in place. Several: the
        // token rows are gathered by slot, as 8-bit blocks when the experts take quantized activations
        // (quantized once per token, copied per slot), else as floats.
        let first = w.experts[0]
        var gateQ: QuantizedActivations?, upQ: QuantizedActivations?
        let quantized = s.precision == .q8 && w.expertTypesUniform
        if n == 1 {
            if quantized {
                gateQ = s.hiddenQ.activations(for: first.gate, x: s.xb, n: 1)
                upQ = s.hiddenQ.activations(for: first.up, x: s.xb, n: 1)
            }
        } else {
            let tokens = UnsafeBufferPointer(start: s.slotToken, count: n * k).lazy.map { Int($0) }
            func gathered(_ m: WeightMatrix) -> QuantizedActivations? {
                guard quantized, let src = s.hiddenQ.activations(for: m, x: s.xb, n: n), let dst = s.slotQ.buffer(for: m) else { return nil }
                dst.gather(from: src, rows: tokens)
                return dst
            }
            gateQ = gathered(first.gate)
            let sameActivations = QuantizedActivations.activationType(for: first.up.type) == gateQ?.activationType
            upQ = sameActivations ? gateQ : gathered(first.up)
            if gateQ == nil || upQ == nil {
                for slot in 0 ..< n * k { (s.expertIn + slot * h).update(from: s.xb + Int(s.slotToken[slot]) * h, count: h) }
            }
        }
        var used = (0 ..< e).filter { s.expertStart[$0 + 1] > s.expertStart[$0] }
        s.expertCounts.routed += n * k
        s.expertCounts.computed += used.count
        // Low-bit mode (decode only): the token's lower-weight experts that the cache does not hold are asked
        // of the low-bit cache, whose copies read fewer bytes; the rest as usual.
        var lowIds: [Int] = []
        if n == 1, let cache, offload?.lowBitCache != nil, let rule = offload?.settings.lowBit {
            let byWeight = (0 ..< k).sorted { s.chosenWeights[$0] > s.chosenWeights[$1] }
            lowIds = byWeight.dropFirst(rule.fullRank(k: k)).map { Int(s.chosen[$0]) }
                .filter { !cache.holds(layer: l, expert: $0) }.sorted()
            used.removeAll { lowIds.contains($0) }
        }
        var lowBit: (ids: [Int], ticket: ExpertCache.Ticket, cache: ExpertCache)?
        defer { if let lowBit { lowBit.cache.release(lowBit.ticket) } }
        // Asked after the full copies' request, so that the disk reads those first and the low-bit reads
        // overlap their products.
        func requestLowBit() throws {
            guard lowBit == nil, !lowIds.isEmpty, let low = offload?.lowBitCache else { return }
            lowBit = (lowIds, try low.request(layer: l, experts: lowIds), low)
        }
        // At most half the cache's slots per group, so the next group can load while this one computes.
        let groupSize = cache.map { min($0.capacity, max(k, $0.capacity / 2)) } ?? used.count
        var g0 = 0
        while g0 < used.count {
            let group = Array(used[g0 ..< min(used.count, g0 + groupSize)])
            let next = Array(used[min(used.count, g0 + groupSize) ..< min(used.count, g0 + 2 * groupSize)])
            g0 += group.count
            var experts = group.map { w.experts[$0] }
            var ticket: ExpertCache.Ticket?
            if let cache {
                // One token whose experts fit one group: asked for in the router's order (the decode order of
                // routing traces, which `CacheSimulator` replays), computed in ascending order.
                let requestOrder = n == 1 && group.count == k ? (0 ..< k).map { Int(s.chosen[$0]) } : group
                // Experts loaded for a batch where each has two tokens or more on average are repacked as they
                // arrive: the several-token kernels gain more than the reordering costs (one-token products
                // gain less, and the reordering would sit on the decode step's critical path).
                let repack = n * k >= 2 * e
                ticket = try cache.request(layer: l, experts: requestOrder, repack: repack)
                try requestLowBit()
                if !next.isEmpty {
                    cache.prefetch(layer: l, experts: next, repack: repack)
                } else if repack {
                    prefetchNextLayer(after: l, batch: n, cache: cache, state: s)
                } else if n == 1, cache.predictor != nil {
                    prefetchNextLayer(after: l, cache: cache, state: s)
                }
                let ready = try cache.wait(ticket!)
                let pointers = Dictionary(uniqueKeysWithValues: zip(requestOrder, ready))
                experts = zip(group, experts).map { x, ex in
                    let p = pointers[x]!
                    return ExpertWeights(gate: ex.gate.rebased(to: p.gate, repackedInPlace: p.gateLayout),
                                         up: ex.up.rebased(to: p.up, repackedInPlace: p.upLayout),
                                         down: ex.down.rebased(to: p.down, repackedInPlace: p.downLayout))
                }
            }
            defer { if let ticket { cache?.release(ticket) } }
            expertGroup(group, experts, layer: l, n: n, state: s, gateQ: gateQ, upQ: upQ, quantized: quantized)
        }
        try requestLowBit()   // (every full copy was held: no group above)
        if let lowBit {
            let layout = lowBit.cache.layout
            let ready = try lowBit.cache.wait(lowBit.ticket)
            let experts = try zip(lowBit.ids, ready).map { x, p in
                let id = layout.id(layer: l, expert: x)
                func matrix(_ part: Int, _ base: UnsafeRawPointer, _ packed: RepackedRows.Layout?) throws -> WeightMatrix {
                    let q = layout.part(id, part)
                    return try WeightMatrix(type: q.type, rows: q.rows, cols: q.cols, base: base).rebased(to: base, repackedInPlace: packed)
                }
                return ExpertWeights(gate: try matrix(0, p.gate, p.gateLayout), up: try matrix(1, p.up, p.upLayout),
                                     down: try matrix(2, p.down, p.downLayout))
            }
            let lowQuantized = s.precision == .q8
            expertGroup(lowBit.ids, experts, layer: l, n: 1, state: s,
                        gateQ: lowQuantized ? s.hiddenQ.activations(for: experts[0].gate, x: s.xb, n: 1) : nil,
                        upQ: lowQuantized ? s.hiddenQ.activations(for: experts[0].up, x: s.xb, n: 1) : nil, quantized: lowQuantized)
        }
        for slot in 0 ..< n * k {
            let out = s.ffnOut + Int(s.slotToken[slot]) * h, y = s.expertOut + slot * h
            let wt = s.slotWeight[slot]
            for d in 0 ..< h { out[d] += wt * y[d] }
        }
    }

    /// The products of a group of chosen experts (ascending ids, so their slots are one contiguous range):
    /// gate and up, silu(gate) ⊙ up, down, into expertOut by slot.
    private func expertGroup(_ ids: [Int], _ experts: [ExpertWeights], layer l: Int, n: Int, state s: InferenceState,
                             gateQ: QuantizedActivations?, upQ: QuantizedActivations?, quantized: Bool) {
        let c = config, h = c.hiddenSize, ffn = c.expertFFN
        let lo = Int(s.expertStart[ids.first!]), hi = Int(s.expertStart[ids.last! + 1])
        var gateUp: [MatMul.Product] = [], down: [MatMul.Product] = []
        gateUp.reserveCapacity(2 * ids.count)
        down.reserveCapacity(ids.count)
        for (x, ex) in zip(ids, experts) {
            let slot0 = Int(s.expertStart[x]), count = Int(s.expertStart[x + 1]) - slot0
            let input = n > 1 ? UnsafePointer(s.expertIn + slot0 * h) : UnsafePointer(s.xb)
            let row = n > 1 ? slot0 : 0
            gateUp.append(MatMul.Product(ex.gate, x: input, n: count, y: s.gate + slot0 * ffn, xq: gateQ, xqRow: row))
            gateUp.append(MatMul.Product(ex.up, x: input, n: count, y: s.up + slot0 * ffn, xq: upQ, xqRow: row))
        }
        MatMul.run(gateUp, pool: s.pool)
        let biases = layers[l].expertBiases
        if let b = biases {
            for x in ids {
                for slot in Int(s.expertStart[x]) ..< Int(s.expertStart[x + 1]) {
                    let g = s.gate + slot * ffn, u = s.up + slot * ffn
                    for i in 0 ..< ffn { g[i] += b.gate[x * ffn + i]; u[i] += b.up[x * ffn + i] }
                }
            }
        }
        // Each expert's own slots: a group's experts need not be consecutive (low-bit mode splits the chosen).
        for x in ids {
            let slot0 = Int(s.expertStart[x]), count = Int(s.expertStart[x + 1]) - slot0
            Ops.activate(c.activation, s.gate + slot0 * ffn, s.up + slot0 * ffn, n: count * ffn)
        }
        if let stats = s.activationStatistics {
            for x in ids {
                let slots = Int(s.expertStart[x]) ..< Int(s.expertStart[x + 1])
                stats.add(.expertInput(layer: l, expert: x), rows: s.xb, indices: slots.lazy.map { Int(s.slotToken[$0]) }, width: h)
                stats.add(.expertDown(layer: l, expert: x), rows: s.gate + slots.lowerBound * ffn, n: slots.count, width: ffn)
            }
        }
        // The down projections' inputs, silu(gate) ⊙ up by slot, quantized once for the group (row by row,
        // so the same bytes as for all slots at once).
        s.downQ.invalidate()
        let downQ = quantized ? s.downQ.activations(for: experts[0].down, x: s.gate + lo * ffn, n: hi - lo) : nil
        for (x, ex) in zip(ids, experts) {
            let slot0 = Int(s.expertStart[x]), count = Int(s.expertStart[x + 1]) - slot0
            down.append(MatMul.Product(ex.down, x: s.gate + slot0 * ffn, n: count, y: s.expertOut + slot0 * h,
                                       xq: downQ, xqRow: slot0 - lo))
        }
        MatMul.run(down, pool: s.pool)
        if let b = biases {
            for x in ids {
                for slot in Int(s.expertStart[x]) ..< Int(s.expertStart[x + 1]) {
                    let y = s.expertOut + slot * h
                    for d in 0 ..< h { y[d] += b.down[x * h + d] }
                }
            }
        }
    }

    /// The predictive policy's prefetch after layer `l` (`ExpertCache.prefetchAhead`): each predicted
    /// layer's router is applied to this layer's FFN input (`s.xb`), except under a forced routing trace,
    /// where the router says nothing about the experts used.
    private func prefetchNextLayer(after l: Int, cache: ExpertCache, state s: InferenceState) {
        let fullRank = offload?.lowBitCache == nil ? nil : offload?.settings.lowBit?.fullRank(k: config.expertsPerToken)
        cache.prefetchAhead(after: l, next: nextMoELayer(after:), fullRank: fullRank) { layer in
            guard s.forcedRows == nil, let router = layers[layer].router else { return nil }
            MatMul.run([MatMul.Product(router, x: s.xb, n: 1, y: s.predictProbs,
                                       xq: s.hiddenQ.activations(for: router, x: s.xb, n: 1))], pool: nil)
            Ops.softmax(s.predictProbs, n: config.expertCount)
            return UnsafePointer(s.predictProbs)
        }
    }

    /// A batch of ≥ 2 tokens per expert (prefill) will use most of the next MoE layer's experts: those its
    /// tokens choose there, as the next layer's router says on this layer's FFN input (or the forced trace
    /// does), are loaded while this layer computes, under every policy. Where the disk is the bottleneck their
    /// reads wait for this layer's own (`ExpertCache.prefetch`); unlike a decode guess, nearly all are used.
    private func prefetchNextLayer(after l: Int, batch n: Int, cache: ExpertCache, state s: InferenceState) {
        guard let target = nextMoELayer(after: l) else { return }
        let e = config.expertCount, k = config.expertsPerToken
        var wanted = [Bool](repeating: false, count: e)
        if let forced = s.forcedRows {
            for t in 0 ..< n { for x in forced.trace.experts(token: forced.tokens[t], layer: moeOrdinal[target]) { wanted[Int(x)] = true } }
        } else if let router = layers[target].router {
            // routerLogits: free once this layer's tokens are routed. [n, experts]
            MatMul.run([MatMul.Product(router, x: s.xb, n: n, y: s.routerLogits,
                                       xq: s.hiddenQ.activations(for: router, x: s.xb, n: n))], pool: s.pool)
            for t in 0 ..< n {
                let row = s.routerLogits + t * e
                for x in ExpertPredictor.top((0 ..< e).map { row[$0] + (layers[target].routerLogitBias?[$0] ?? 0) }, k) { wanted[x] = true }
            }
        }
        cache.prefetch(layer: target, experts: (0 ..< e).filter { wanted[$0] }, repack: true)
    }

    func nextMoELayer(after l: Int) -> Int? { moeOrdinal[(l + 1)...].firstIndex { $0 >= 0 } }

    /// expertOut[n, hidden] = down(silu(gate · xb) ⊙ (up · xb)), for a dense FFN or a shared expert.
    private func runExpert(_ e: ExpertWeights, layer: Int, n: Int, state s: InferenceState) {
        MatMul.run([MatMul.Product(e.gate, x: s.xb, n: n, y: s.gate, xq: s.hiddenQ.activations(for: e.gate, x: s.xb, n: n)),
                    MatMul.Product(e.up, x: s.xb, n: n, y: s.up, xq: s.hiddenQ.activations(for: e.up, x: s.xb, n: n))],
                   pool: s.pool)
        Ops.activate(config.activation, s.gate, s.up, n: n * e.gate.rows)
        s.activationStatistics?.add(.denseDown(layer: layer), rows: s.gate, n: n, width: e.gate.rows)
        let downQ = e.down.cols == s.denseDownQ.cols ? s.denseDownQ : s.sharedDownQ
        downQ.invalidate()
        MatMul.run([MatMul.Product(e.down, x: s.gate, n: n, y: s.expertOut,
                                   xq: downQ.activations(for: e.down, x: s.gate, n: n))], pool: s.pool)
    }
}

/// Where each row of a forward call goes: its sequence (whose KV cache it reads and extends) and position.
/// One sequence for a plain call; several for a batch of sequences decoding together.
struct RowPlacement {
    var sequences: [InferenceState] = []
    var positions: [Int] = []

    init() {}

    /// `count` rows of one sequence at positions `from ..< from + count`.
    init(sequence: InferenceState, from: Int, count: Int) {
        sequences = Array(repeating: sequence, count: count)
        positions = Array(from ..< from + count)
    }

    var maxPosition: Int { positions.max() ?? 0 }

    /// After the pass: each sequence's position moves past its rows.
    func advance() {
        var last: [ObjectIdentifier: (InferenceState, Int)] = [:]
        for (t, sequence) in sequences.enumerated() { last[ObjectIdentifier(sequence)] = (sequence, positions[t]) }
        for (sequence, position) in last.values { sequence.position = position + 1 }
    }
}
