import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import MoETokenizer

/// Continuous batching: up to `slots` completions decode together. Each step routes one batch holding a token
/// of every decoding slot and a chunk of each slot still reading its prompt, through `Model.forward(batch:)`:
/// the experts the batch chose run once for all its rows, so concurrent requests share their weight reads —
/// from RAM, or from disk under a memory budget. New requests join between steps; a long prompt is read
/// `prefillChunk` tokens per step, so running streams wait at most one step for it. A slot keeps its KV cache
/// after a request, and a new request goes to the free slot whose cached tokens share the longest prefix with
/// its prompt (a conversation's next turn reuses its history). All slots' caches are allocated at start
/// (`stateBytes`): the memory does not grow with load; requests beyond the slots wait in a bounded queue.
///
/// One thread runs the steps; `submit` may be called from any thread.
public final class BatchScheduler: @unchecked Sendable {
    public let model: Model
    public let slotCount: Int
    public let contextLength: Int
    public let prefillChunk: Int
    public let queueLimit: Int

    private let lock = NSCondition()
    private var queue: [Job] = []
    private var slots: [Slot]
    private let scratch: InferenceState
    private var stopping = false
    private var cancelRunning = false
    private var counters: SchedulerSnapshot
    private var thread: Thread?
    /// Benchmark mode: routing forced from a trace; request r follows it from the trace's document r.
    private let forcedRouting: ForcedRouting?
    private var admitted = 0

    /// - slots: completions decoding together. contextLength: tokens (prompt + reply) per slot.
    /// - prefillChunk: most prompt tokens of one slot per step. queueLimit: requests waiting for a slot.
    /// - forcedRouting: benchmark mode (the replies are meaningless): every request's tokens route as the
    ///   trace's tokens from a document of its own, so concurrent requests share experts as real traffic
    ///   of different texts would.
    public init(model: Model, slots: Int, contextLength: Int, threads: Int, precision: ActivationPrecision,
                prefillChunk: Int = 64, queueLimit: Int = 64, forcedRouting: ForcedRouting? = nil) {
        self.model = model
        self.forcedRouting = forcedRouting
        slotCount = max(1, slots)
        self.contextLength = max(2, min(contextLength, model.config.maxPositions))
        self.prefillChunk = max(1, prefillChunk)
        self.queueLimit = max(0, queueLimit)
        let c = model.config
        let context = max(2, min(contextLength, model.config.maxPositions)), chunk = max(1, prefillChunk)
        self.slots = (0 ..< max(1, slots)).map { i in
            Slot(index: i, cache: PromptCache(state: InferenceState(config: c, contextLength: context, maxBatch: chunk,
                                                                   threads: 1, precision: precision, sequenceOnly: true)))
        }
        // The scratch state computes every step: its buffers hold all slots' rows; a step draws at most one token
        // per slot, so logits for one row per slot.
        let rows = max(1, slots) * chunk
        scratch = InferenceState(config: c, contextLength: context, maxBatch: rows, logitRows: max(1, slots),
                                 threads: threads, precision: precision)
        counters = SchedulerSnapshot(slots: slotCount, activeSlots: 0, queued: 0, requestsCompleted: 0, requestsRefused: 0,
                                     promptTokens: 0, reusedPromptTokens: 0, generatedTokens: 0, steps: 0, rows: 0,
                                     expertsRouted: 0, expertsComputed: 0,
                                     stateBytes: 0)
        counters.stateBytes = scratch.byteCount + self.slots.reduce(0) { $0 + $1.cache.state.byteCount }
        let thread = Thread { [self] in self.run() }   // the thread keeps the scheduler alive until shutdown
        thread.name = "moe-batch-scheduler"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Queues a completion; its events stream until `.finished`. Ending the stream's iteration (a client gone)
    /// cancels it within a step.
    public func submit(_ request: CompletionRequest) throws -> AsyncStream<CompletionEvent> {
        guard !request.promptIds.isEmpty else { throw SchedulerError.invalid("the prompt is empty") }
        guard request.maxTokens >= 0 else { throw SchedulerError.invalid("max_tokens must be ≥ 0") }
        if let bad = request.promptIds.first(where: { $0 < 0 || $0 >= model.config.vocabSize }) {
            throw SchedulerError.invalid("token id \(bad) is outside the vocabulary")
        }
        guard request.promptIds.count + request.maxTokens <= contextLength else {
            throw SchedulerError.tooLong(promptTokens: request.promptIds.count, maxTokens: request.maxTokens, context: contextLength)
        }
        let (stream, continuation) = AsyncStream<CompletionEvent>.makeStream(bufferingPolicy: .unbounded)
        let job = Job(request: request, continuation: continuation, eos: model.config.eosTokenId ?? model.tokenizer.eosTokenId)
        continuation.onTermination = { [weak self, job] _ in
            guard let self else { return }
            self.lock.lock()
            job.cancelled = true
            self.lock.signal()
            self.lock.unlock()
        }
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { throw SchedulerError.shuttingDown }
        let free = slots.filter { $0.job == nil }.count
        guard queue.count < free + queueLimit else {
            counters.requestsRefused += 1
            throw SchedulerError.busy(queueLimit: queueLimit)
        }
        queue.append(job)
        lock.signal()
        return stream
    }

    public func snapshot() -> SchedulerSnapshot {
        lock.lock()
        defer { lock.unlock() }
        var s = counters
        s.activeSlots = slots.filter { $0.job != nil }.count
        s.queued = queue.count
        return s
    }

    /// Stops accepting requests; `cancel`: running and queued completions end now ("cancelled"), else they
    /// finish first. Returns when the scheduler thread has stopped.
    public func shutdown(cancel: Bool) {
        lock.lock()
        stopping = true
        cancelRunning = cancel
        lock.signal()
        lock.unlock()
        while true {
            lock.lock()
            let done = thread == nil
            lock.unlock()
            if done { return }
            usleep(2000)
        }
    }

    // MARK: - The step loop (scheduler thread)

    /// Mutable state of one completion, touched by the scheduler thread only except `cancelled` (under the lock).
    private final class Job: @unchecked Sendable {
        let request: CompletionRequest
        let continuation: AsyncStream<CompletionEvent>.Continuation
        let stops: Set<Int>
        var cancelled = false   // under the lock
        var sampler: Sampler
        var decoder = UTF8StreamDecoder()
        var history: [Int]
        var fed = 0             // prompt tokens in the slot's cache
        var produced = 0
        var pending: Int?       // the last chosen token, not yet in the cache
        var json: JSONPrefix?   // the reply so far, when constrained to a JSON object
        var reused = 0
        let submitted = ContinuousClock.now
        var admitted = ContinuousClock.now
        var firstToken: ContinuousClock.Instant?

        init(request: CompletionRequest, continuation: AsyncStream<CompletionEvent>.Continuation, eos: Int?) {
            self.request = request
            self.continuation = continuation
            var stops = request.stopTokenIds
            if let eos { stops.insert(eos) }
            self.stops = request.ignoreEOS ? [] : stops
            sampler = Sampler(options: request.sampling)
            history = request.promptIds
            json = request.jsonObject ? JSONPrefix() : nil
        }
    }

    private struct Slot {
        let index: Int
        let cache: PromptCache
        var job: Job?
    }

    private func run() {
        while true {
            lock.lock()
            while !stopping, queue.isEmpty, slots.allSatisfy({ $0.job == nil }) { lock.wait() }
            if stopping, cancelRunning || (queue.isEmpty && slots.allSatisfy({ $0.job == nil })) {
                let running = slots.compactMap(\.job) + queue
                queue.removeAll()
                for i in slots.indices { slots[i].job = nil }
                thread = nil
                lock.unlock()
                for job in running { finish(job, slot: -1, reason: "cancelled") }
                return
            }
            admit()
            let cancelled = slots.indices.filter { slots[$0].job?.cancelled == true }
            lock.unlock()
            for i in cancelled { release(i, reason: "cancelled") }
            step()
        }
    }

    /// Moves queued jobs into free slots (under the lock): each to the free slot holding the longest prefix
    /// of its prompt.
    private func admit() {
        while !queue.isEmpty {
            let free = slots.indices.filter { slots[$0].job == nil }
            guard !free.isEmpty else { return }
            let job = queue.removeFirst()
            if job.cancelled { job.continuation.finish(); continue }
            let best = free.max { slots[$0].cache.commonPrefix(with: job.request.promptIds) < slots[$1].cache.commonPrefix(with: job.request.promptIds) }!
            job.reused = slots[best].cache.reuse(for: job.request.promptIds)
            job.fed = job.reused
            job.admitted = ContinuousClock.now
            if let forcedRouting {
                slots[best].cache.state.forcedRouting = forcedRouting.startingAtDocument(admitted)
            }
            admitted += 1
            job.continuation.yield(.admitted(reusedPromptTokens: job.reused))
            slots[best].job = job
        }
    }

    /// One forward call over every running slot, then a token for each slot whose prompt is read.
    private func step() {
        var batch: [(token: Int, sequence: InferenceState)] = []
        var lastRow: [(slot: Int, row: Int)] = []
        var logitRows: [Int] = []   // rows whose logits are computed, ascending; logits row k is logitRows[k]'s
        for i in slots.indices {
            guard let job = slots[i].job else { continue }
            let state = slots[i].cache.state
            let prompt = job.request.promptIds
            let tokens: ArraySlice<Int>
            if job.fed < prompt.count {
                tokens = prompt[job.fed ..< min(prompt.count, job.fed + prefillChunk)]
            } else if let t = job.pending {
                tokens = [t]
            } else {
                continue
            }
            for t in tokens { batch.append((t, state)) }
            lastRow.append((i, batch.count - 1))
            // A token is drawn from this row only when it ends the prompt or is a decode step.
            if job.fed + tokens.count >= prompt.count { logitRows.append(batch.count - 1) }
        }
        guard !batch.isEmpty else { return }
        let before = scratch.expertCounts
        let logits: UnsafeBufferPointer<Float>
        do {
            logits = try model.forward(batch: batch, scratch: scratch, logitRows: logitRows)
        } catch {
            for (i, _) in lastRow { release(i, reason: "error: \(error)") }
            return
        }
        let vocab = model.config.vocabSize
        lock.lock()
        counters.steps += 1
        counters.rows += batch.count
        counters.expertsRouted += scratch.expertCounts.routed - before.routed
        counters.expertsComputed += scratch.expertCounts.computed - before.computed
        lock.unlock()
        for (i, row) in lastRow {
            guard let job = slots[i].job else { continue }
            let cache = slots[i].cache
            if job.fed < job.request.promptIds.count {
                let n = min(job.request.promptIds.count - job.fed, prefillChunk)
                cache.appended(job.request.promptIds[job.fed ..< job.fed + n])
                job.fed += n
                if job.fed < job.request.promptIds.count { continue }
            } else if let t = job.pending {
                cache.appended(CollectionOfOne(t))
                job.pending = nil
            }
            if job.produced >= job.request.maxTokens { release(i, reason: "max_tokens"); continue }
            guard let k = logitRows.firstIndex(of: row) else { continue }   // (never: this row ends its prompt)
            let rowLogits = UnsafeBufferPointer(rebasing: logits[k * vocab ..< (k + 1) * vocab])
            let next: Int
            if let json = job.json {
                // Text tokens whose bytes keep the object valid; no special token (an end-of-text included:
                // the completion ends when the object closes).
                let tokenizer = model.tokenizer
                let chosen = job.sampler.sample(rowLogits, history: job.history) { id in
                    guard !tokenizer.isSpecial(id) else { return false }
                    let bytes = tokenizer.decodeBytes([id])
                    var prefix = json
                    return !bytes.isEmpty && prefix.feed(bytes)
                }
                guard let chosen else { release(i, reason: "error: no token continues the JSON object"); continue }
                next = chosen
                _ = job.json!.feed(tokenizer.decodeBytes([next]))
            } else {
                next = job.sampler.sample(rowLogits, history: job.history)
            }
            if job.firstToken == nil { job.firstToken = ContinuousClock.now }
            job.produced += 1
            job.history.append(next)
            if job.stops.contains(next) { release(i, reason: "eos"); continue }
            job.continuation.yield(.token(id: next, text: job.decoder.decode(model.tokenizer.decodeBytes([next]))))
            if job.json?.isComplete == true { release(i, reason: "eos"); continue }
            if job.produced >= job.request.maxTokens { release(i, reason: "max_tokens"); continue }
            if cache.state.position >= contextLength { release(i, reason: "context_full"); continue }
            job.pending = next
        }
    }

    /// Ends slot i's job; the slot keeps its cache for the next request.
    private func release(_ i: Int, reason: String) {
        guard let job = slots[i].job else { return }
        lock.lock()
        slots[i].job = nil
        lock.unlock()
        finish(job, slot: i, reason: reason)
    }

    private func finish(_ job: Job, slot: Int, reason: String) {
        let rest = job.decoder.finish()
        if !rest.isEmpty { job.continuation.yield(.token(id: -1, text: rest)) }
        let now = ContinuousClock.now
        let first = job.firstToken ?? now
        let summary = CompletionSummary(
            promptTokens: job.request.promptIds.count, reusedPromptTokens: job.reused, generatedTokens: job.produced, stopReason: reason,
            queueSeconds: (job.admitted - job.submitted).seconds, timeToFirstTokenSeconds: (first - job.admitted).seconds,
            decodeSeconds: (now - first).seconds, slot: slot)
        lock.lock()
        counters.requestsCompleted += 1
        counters.promptTokens += summary.promptTokens
        counters.reusedPromptTokens += summary.reusedPromptTokens
        counters.generatedTokens += summary.generatedTokens
        lock.unlock()
        job.continuation.yield(.finished(summary))
        job.continuation.finish()
    }
}
