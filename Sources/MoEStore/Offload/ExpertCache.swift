import Foundation
import MoEFormats
import MoEKernels

/// Which experts the cache keeps, and whether it loads experts before they are asked for.
public enum CachePolicyKind: String, CaseIterable, Sendable, Codable {
    /// Least recently used; loads on demand only.
    case lru
    /// Least frequently used, counts decayed so that the cache follows a change of topic; on demand only.
    case lfu
    /// Evicts by the predictor's forecast and decayed counts (`ForecastPolicy`; guesses enter ranked by their
    /// earlier requests), and prefetches each next layer's predicted experts (`ExpertPredictor`) while the layers
    /// before it compute, as many as the measured disk rate reads in that time (`GuessWindow`).
    case predictive
}

public struct ExpertCacheOptions: Sendable {
    public var policy: CachePolicyKind = .predictive
    /// Threads reading experts, each one read at a time; nil (the default): `adaptiveIOThreads` threads,
    /// of which as many read at once as the measured times call for (`ExpertCache.readsInFlightLimit`).
    public var ioThreads: Int?
    /// LFU and predictive: every 4,096 requests all counts are multiplied by this. Counts of the last few dozen
    /// tokens rank best on real routing: simulated at 39% of route-16x64-top8's experts, 0.3 serves 75.5% of
    /// requests from the cache against 70.9% with 0.9 (20% fewer bytes loaded); on the tiny reference model's
    /// routing at 25%, 63.4% against 59.5% (Docs/BENCHMARKS.md).
    public var lfuDecay = 0.3
    /// Predictive: experts prefetched for the next MoE layer; nil = top-k plus half again. Layers further
    /// ahead get top-k.
    public var prefetchCount: Int?
    /// Predictive: MoE layers ahead whose experts are prefetched (a load then has that many layers'
    /// compute to arrive in; further guesses are less often right).
    public var lookahead = 2
    /// Bytes of the compressed-RAM tier (zstd copies of experts read from disk; a miss found there is
    /// decompressed instead of read); 0: no such tier. `ExpertOffload` sizes it from the measured ratio.
    public var compressedTierBytes = 0
    /// zstd level of the compressed tier (1: fast, and weights gain little from higher levels).
    public var compressionLevel: Int32 = 1
    /// How experts are read: `auto` (io_uring where the kernel allows it and no compressed tier is used,
    /// else I/O threads), or one of them.
    public var reads: ReadMethod = .auto
    public enum ReadMethod: String, Sendable, CaseIterable { case auto, uring, threads }
    /// Reads in flight at once through io_uring: at least this many, and a whole layer's matrices, so that a
    /// batch's next layer loads during a long compute, when no one reaps and refills the ring.
    public static let uringDepth = 32
    /// Reorder the arriving experts that a request or prefetch asks so (`repack:`) in place into this CPU's
    /// repacked layout, where one serves every product on 8-bit activations (`RepackedRows.repackInPlace`: the
    /// same bytes, the same results, the faster several-token kernels); `Pointers` then name the layout. Only for
    /// models computing on 8-bit activations.
    public var repackInPlace = false

    /// Threads started when `ioThreads` is nil: the most reads the adaptive limit lets run at once.
    public static let adaptiveIOThreads = 16
    /// The adaptive limit's floor: enough reads in flight for a disk's bandwidth (BENCHMARKS.md measured 4
    /// threads the fastest on 3 MiB experts, whose layers compute in ≈ 2 ms).
    public static let minimumReadsInFlight = 4

    /// Threads started.
    public var ioThreadCount: Int { ioThreads ?? Self.adaptiveIOThreads }

    public init(policy: CachePolicyKind = .predictive, ioThreads: Int? = nil, prefetchCount: Int? = nil, lookahead: Int = 2,
                reads: ReadMethod = .auto) {
        self.policy = policy
        self.reads = reads
        self.ioThreads = ioThreads.map { max(1, $0) }
        self.prefetchCount = prefetchCount
        self.lookahead = max(1, lookahead)
    }
}

/// The "ready" tier: a fixed number of expert slots in one anonymous mapping, filled from the model file by
/// I/O threads (pread, O_DIRECT where possible) and emptied by the policy. The compute thread asks for a
/// layer's experts with `request` (which pins them and queues the missing ones, demand loads ahead of
/// prefetches), may then `prefetch` what it expects next, `wait`s for the pinned experts to be ready, and
/// `release`s them after the layer's products. A pinned or loading expert is never evicted.
///
/// Memory: `capacity × slotBytes` of slots (touched as they fill) and nothing else of note; no page cache
/// is kept for the experts it reads.
public final class ExpertCache: @unchecked Sendable {
    public let layout: ExpertLayout
    public let options: ExpertCacheOptions
    /// Slots: experts the cache can hold at once.
    public let capacity: Int
    /// Bytes of one slot: each of the three matrices in its own aligned region (`ExpertFileReader`).
    public let slotBytes: Int
    /// Offsets of the gate, up and down regions within a slot.
    private let regionOffset: [Int]
    private let arena: UnsafeMutableRawPointer?   // nil when simulating
    private let arenaBytes: Int
    private let reader: ExpertFileReader?          // nil when simulating
    /// A simulation (`ExpertCache(simulating:)`): the same bookkeeping and policy, but no memory, no file
    /// and no I/O threads: every load completes the moment it is started (as with a disk of infinite speed).
    public let isSimulation: Bool
    /// The next layer's expected experts (predictive policy only).
    public let predictor: ExpertPredictor?
    /// Compressed copies of experts (keys id · 3 + matrix), or nil.
    public let compressedTier: CompressedTier?
    private let largestPart: Int

    private enum Phase: UInt8 { case absent, queued, loading, ready }

    // Everything below is guarded by `monitor`.
    private let monitor = Monitor()
    private var phase: [Phase]          // [ids]
    private var slot: [Int32]           // [ids] slot of a queued, loading or ready expert
    private var pins: [Int32]           // [ids] requests in flight that use the expert
    private var byPrefetch: [Bool]      // [ids] brought by a prediction, not yet requested
    private var packed: [Bool]          // [ids] loaded to be repacked in place (`options.repackInPlace`, asked with `repack:`)
    /// [ids] a prefetched expert whose layer has not been requested since: no other prefetch may evict it
    /// (a demand load may, last). Prefetched experts enter at the policy's eviction end (`insertedCold`),
    /// so a wrong guess leaves first and a right one moves up when used: guesses do not push out experts
    /// that earned their place.
    private var isProtected: [Bool]
    private var speculative: [[Int]]    // [layers] protected ids awaiting their layer's request
    private var protectedCount = 0      // at most capacity / 2, so guesses never crowd out what is used
    private var freeSlots: [Int32]
    private var partsDone: [UInt8]      // [ids] matrices of a loading expert read so far
    /// Reads to do, each one matrix of one expert (job = id · 3 + part), so that an expert's three
    /// matrices are read in parallel.
    private var demandQueue: [Int] = [], prefetchQueue: [Int] = []
    private var policy: any CachePolicy
    private var time = 0
    private var failure: OffloadError?
    private var stopping = false
    private var statistics: CacheStatistics
    /// [ids] the same counts per expert (requests, hits, prefetch hits, late prefetches, misses, prefetches,
    /// wasted prefetches, evictions, bytes read and decompressed; stall time is per layer only).
    private var expertStatistics: [CacheStatistics.Layer]
    /// Every wait that stalled, in seconds (for latency histograms), in order.
    private var stalls: [Double] = []
    /// Reads under way, and how many may be at once (fixed with `ioThreads`, else adapted).
    private var reading = 0
    /// With io_uring: threads that read the matrices repacked as they arrive (0: none, the ring reads all), and
    /// those reads under way on them.
    private let packThreads: Int
    private var threadReading = 0
    public private(set) var readsInFlightLimit: Int
    /// Exponential averages for the adaptive limit: seconds of one read, seconds from queueing a read to its
    /// start (a thread's wake-up, and any wait for a free one), seconds between two requests (a layer's
    /// compute, in decode), reads queued between two requests.
    private var readSeconds = 0.0, startDelay = 0.0, requestInterval = 0.0, readsPerRequest = 0.0
    private var lastRequest: ContinuousClock.Instant?
    private var readsSinceRequest = 0
    private var queuedAt: [ContinuousClock.Instant]   // [ids · 3] when each read was queued
    /// [ids] requested and not yet ready, and their count: while any is, guesses may wait in their queue
    /// (`guessesMayRead`).
    private var isAwaited: [Bool]
    private var awaitedCount = 0
    /// Bytes of an expert, on average over the model.
    private let meanExpertBytes: Double
    /// [ids] loaded as a guess, its reads not all finished; `guessBytesPending`: their bytes not yet read.
    private var guessLoading: [Bool]
    private var guessBytesPending = 0
    /// Bytes read from disk so far (the window's rate: those finishing during a stall).
    private var bytesFinished = 0
    /// The disk's rate and a layer's compute time, measured: the bytes guesses may take (`guessAllowance`).
    private var guessWindow = GuessWindow()
    #if os(Linux)
    /// The io_uring the compute thread submits reads to and reaps them from (nil: I/O threads read).
    private let uring: UringReads?
    #endif
    /// Whether io_uring reads land in the registered arena (`read_fixed`), which happens once the arena's pages
    /// are faulted in off the compute thread (`registerArena`); false before, and without io_uring.
    public var readsRegistered: Bool {
        #if os(Linux)
        monitor.withLock { uring?.registered ?? false }
        #else
        false
        #endif
    }

    /// Whether reads go through io_uring (else through I/O threads).
    public var readsThroughUring: Bool {
        #if os(Linux)
        uring != nil
        #else
        false
        #endif
    }

    /// - capacity: slots (experts held at once); at least one layer's top-k.
    public convenience init(layout: ExpertLayout, capacity: Int, options: ExpertCacheOptions = ExpertCacheOptions()) throws {
        try self.init(layout: layout, capacity: capacity, options: options, simulate: false)
    }

    /// A cache that only keeps the books: which experts it would hold, what it would count. Requests and
    /// prefetches behave as in the real cache with loads that finish at once (no late prefetches, no stalls);
    /// `wait` must not be called. The simulator replays traces through it (`CacheSimulator`), so a simulated
    /// policy is the engine's policy, not a second implementation.
    public convenience init(simulating layout: ExpertLayout, capacity: Int, options: ExpertCacheOptions = ExpertCacheOptions()) {
        var o = options
        o.compressedTierBytes = 0
        // Cannot throw: no mapping and no file are opened when simulating.
        try! self.init(layout: layout, capacity: capacity, options: o, simulate: true)
    }

    private init(layout: ExpertLayout, capacity: Int, options: ExpertCacheOptions, simulate: Bool) throws {
        precondition(capacity >= 1)
        isSimulation = simulate
        self.layout = layout
        self.options = options
        self.capacity = capacity
        let regions = Self.regionBytes(layout)
        regionOffset = [0, regions[0], regions[0] + regions[1]]
        slotBytes = regions.reduce(0, +)
        largestPart = layout.parts.map(\.count).max() ?? 0
        compressedTier = options.compressedTierBytes > 0 ? CompressedTier(ids: layout.ids * 3, capacityBytes: options.compressedTierBytes) : nil
        arenaBytes = max(capacity * slotBytes, 1)
        if simulate {
            arena = nil
            reader = nil
        } else {
            guard let p = mmap(nil, arenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
                throw OffloadError.io(path: layout.files[0], what: "cannot map \(ByteSize.format(arenaBytes)) for the expert cache")
            }
            arena = p
            reader = try ExpertFileReader(paths: layout.files)
        }
        let ids = layout.ids
        phase = Array(repeating: .absent, count: ids)
        slot = Array(repeating: -1, count: ids)
        pins = Array(repeating: 0, count: ids)
        byPrefetch = Array(repeating: false, count: ids)
        packed = Array(repeating: false, count: ids)
        isProtected = Array(repeating: false, count: ids)
        speculative = Array(repeating: [], count: layout.layers)
        partsDone = Array(repeating: 0, count: ids)
        freeSlots = (0 ..< Int32(capacity)).reversed()
        switch options.policy {
        case .lru: policy = LRUPolicy(ids: ids)
        case .lfu: policy = LFUPolicy(ids: ids, decay: options.lfuDecay)
        case .predictive:
            policy = ForecastPolicy(layers: layout.layers, experts: layout.experts, k: layout.expertsPerToken,
                                    decay: options.lfuDecay)
        }
        predictor = options.policy == .predictive ? ExpertPredictor(layout: layout) : nil
        statistics = CacheStatistics(layers: layout.layers)
        expertStatistics = Array(repeating: .init(), count: ids)
        readsInFlightLimit = options.ioThreads ?? ExpertCacheOptions.minimumReadsInFlight
        queuedAt = Array(repeating: .now, count: ids * 3)
        isAwaited = Array(repeating: false, count: ids)
        meanExpertBytes = Double(layout.totalBytes) / Double(max(ids, 1))
        guessLoading = Array(repeating: false, count: ids)
        #if os(Linux)
        if !simulate, compressedTier == nil, options.reads != .threads, let arena {
            // A chunk of whole slots, at most 1 GiB (a registered buffer's limit), so that no read crosses one.
            let chunk = max(1, (1 << 30) / max(slotBytes, 1)) * slotBytes
            uring = UringReads(depth: max(ExpertCacheOptions.uringDepth, 3 * layout.experts), arena: arena, arenaBytes: arenaBytes,
                               chunkBytes: chunk)
        } else {
            uring = nil
        }
        if let uring { readsInFlightLimit = uring.depth }
        // Beside io_uring, a few threads read what is repacked as it arrives (`Reads.packed`).
        packThreads = uring != nil && options.repackInPlace ? ExpertCacheOptions.minimumReadsInFlight : 0
        let threads = simulate ? 0 : uring != nil ? packThreads : options.ioThreadCount
        #else
        packThreads = 0
        let threads = simulate ? 0 : options.ioThreadCount
        #endif
        #if os(Linux)
        if uring != nil {
            let t = Thread { [self] in registerArena() }
            t.name = "expert-arena"
            t.stackSize = 256 << 10
            t.start()
        }
        #endif
        let threadReads: Reads = packThreads > 0 ? .packed : .any
        for i in 0 ..< threads {
            let t = Thread { [self] in ioLoop(threadReads) }
            t.name = "expert-io-\(i)"
            t.stackSize = 256 << 10
            t.start()
        }
    }

    /// Scratch of one in-place repack: 64 KiB of groups at a time (in the core's caches), at least one group.
    private static func repackScratchBytes(_ layout: ExpertLayout) -> Int {
        let largestGroup = layout.parts.map { 16 * $0.count / max($0.rows, 1) }.max() ?? 0
        return max(64 << 10, largestGroup)
    }

    /// Bytes of the gate, up and down regions of a slot: each the largest such matrix, aligned for O_DIRECT.
    private static func regionBytes(_ layout: ExpertLayout) -> [Int] {
        (0 ..< 3).map { p in ExpertFileReader.regionBytes(count: (0 ..< layout.ids).map { layout.part($0, p).count }.max() ?? 0) }
    }

    /// Bytes of one slot for `layout`: what each expert held costs.
    public static func slotBytes(for layout: ExpertLayout) -> Int { regionBytes(layout).reduce(0, +) }

    deinit {
        #if os(Linux)
        // Reads still in flight write into the arena: let them land before it is unmapped.
        while let uring, uring.inFlight > 0 { uring.reap(wait: true) { _, _ in } }
        #endif
        if let arena { munmap(arena, arenaBytes) }
    }

    /// Stops the I/O threads (they hold the cache alive until then).
    public func shutdown() {
        monitor.withLock {
            stopping = true
            monitor.signalWork(all: true)
        }
    }

    /// A layer's pinned experts, from `request` until `release`.
    public struct Ticket: Sendable {
        public let layer: Int
        public let experts: [Int]
        fileprivate let ids: [Int]
    }

    /// The three matrices' first bytes of one ready expert, and the layout each was repacked into in place
    /// (nil: row-major; `WeightMatrix.rebased(to:repackedInPlace:)`).
    public struct Pointers: @unchecked Sendable {
        public let gate: UnsafeRawPointer, up: UnsafeRawPointer, down: UnsafeRawPointer
        public let gateLayout: RepackedRows.Layout?, upLayout: RepackedRows.Layout?, downLayout: RepackedRows.Layout?
    }

    /// The layout part p of expert id is (or is to be) repacked into in its slot; nil: row-major (lock held).
    private func inPlaceLayout(_ id: Int, _ p: Int) -> RepackedRows.Layout? {
        guard options.repackInPlace, packed[id] else { return nil }
        let part = layout.part(id, p)
        return RepackedRows.inPlaceLayout(type: part.type, rows: part.rows, cols: part.cols)
    }

    /// After read `job` into `region` succeeded: its matrix reordered in place into `packing`, with `scratch`.
    private func arrived(_ job: Int, region: UnsafeMutableRawPointer, packing: RepackedRows.Layout?, scratch: UnsafeMutableRawBufferPointer) {
        guard let packing else { return }
        let part = layout.part(job / 3, job % 3)
        RepackedRows.repackInPlace(packing, base: region + ExpertFileReader.lead(offset: part.offset), rows: part.rows, cols: part.cols,
                                   rowBytes: part.count / max(part.rows, 1), scratch: scratch)
    }

    /// Pins `experts` of `layer` (each one request, in this order) and queues the missing ones for loading.
    /// At most `capacity` experts may be pinned at once. `repack`: those loaded now are repacked as they arrive
    /// (`ExpertCacheOptions.repackInPlace`; worth its time where several tokens share an expert's products).
    public func request(layer: Int, experts: [Int], repack: Bool = false) throws -> Ticket {
        precondition(experts.count <= capacity, "ExpertCache: \(experts.count) experts pinned at once, capacity \(capacity)")
        let ids = experts.map { layout.id(layer: layer, expert: $0) }
        monitor.lock()
        defer { monitor.unlock() }
        if let failure { throw failure }
        reapReads(wait: false)
        guessWindow.requested(at: .now)
        var queued = 0   // reads newly queued
        for id in speculative[layer] { isProtected[id] = false }   // this layer's guesses are now judged
        protectedCount -= speculative[layer].count
        speculative[layer].removeAll(keepingCapacity: true)
        for id in ids { pins[id] += 1 }   // first, so that no expert of this request is evicted for another
        adaptReadsInFlight()
        for id in ids {
            time += 1
            count(id) { $0.requests += 1 }
            switch phase[id] {
            case .ready:
                if byPrefetch[id] { count(id) { $0.prefetchHits += 1 } } else { count(id) { $0.hits += 1 } }
                policy.used(id, at: time)
            case .queued, .loading:
                count(id) { $0.latePrefetches += 1 }
                let waiting = prefetchQueue.filter { $0 / 3 == id }   // now needed: ahead of guesses (no new job)
                if !waiting.isEmpty {
                    prefetchQueue.removeAll { $0 / 3 == id }
                    demandQueue += waiting
                }
                policy.used(id, at: time)
            case .absent:
                count(id) { $0.misses += 1 }
                guard let s = try takeSlot(waiting: true) else { preconditionFailure("unreachable: waiting takeSlot") }
                queued += startLoad(id, slot: s, demand: true, repack: repack)
                policy.inserted(id, at: time)
            }
            byPrefetch[id] = false
        }
        for id in ids where phase[id] != .ready && !isAwaited[id] {
            isAwaited[id] = true
            awaitedCount += 1
        }
        wakeReaders(queued, packed: repack)
        return Ticket(layer: layer, experts: experts, ids: ids)
    }

    /// Starts loading `experts` of `layer` if they are absent and a slot can be had without waiting
    /// (free, or an unpinned expert to evict). Best effort: stops at the first expert that finds no slot.
    /// Their reads may wait for a request's reads to finish (`guessesMayRead`).
    ///
    /// - window: bytes the disk can read before the guessed layer asks (`guessAllowance`); nil: no limit.
    ///   An expert of `bytes` is loaded while the window left before it exceeds `(1 - precision) · bytes`:
    ///   the part of its read past the window lands in a stall, which a used guess would have paid anyway as
    ///   a miss and an unused one (share `1 - precision`) adds; the part within it is free.
    /// - Returns: bytes queued.
    @discardableResult
    public func prefetch(layer: Int, experts: [Int], repack: Bool = false, window: Double? = nil, precision: Double = 1) -> Int {
        monitor.lock()
        defer { monitor.unlock() }
        if failure != nil || stopping { return 0 }
        var queued = 0   // reads newly queued
        var bytes = 0
        for e in experts {
            let id = layout.id(layer: layer, expert: e)
            guard phase[id] == .absent else { continue }
            let size = layout.bytes(of: id)
            if let window, window - Double(bytes) <= (1 - precision) * Double(size) { break }
            guard protectedCount < capacity / 2, let s = try? takeSlot(waiting: false) else { break }
            bytes += size
            byPrefetch[id] = true
            isProtected[id] = true
            protectedCount += 1
            speculative[layer].append(id)
            queued += startLoad(id, slot: s, demand: false, repack: repack)
            policy.insertedCold(id, at: time)
            count(id) { $0.prefetches += 1 }
        }
        wakeReaders(queued, packed: repack)
        return bytes
    }

    /// What the guesses for the layers ahead may read (`GuessWindow`): bytes per layer of compute, less the
    /// guesses' bytes still to be read; none until both are measured (the first stalls and the first layer timed
    /// bring that about, guesses or not). nil in a simulation, whose loads take no time: not limited.
    func guessAllowance() -> (perLayer: Double, pending: Int)? {
        monitor.withLock {
            guard !isSimulation else { return nil }
            return (guessWindow.bytes(layers: 1) ?? 0, guessBytesPending)
        }
    }

    /// Hands the policy a forecast of `layer`'s next choice (`CachePolicy.forecast`).
    func forecast(layer: Int, probabilities: [Float]) {
        monitor.withLock { policy.forecast(layer: layer, probabilities: probabilities) }
    }

    /// Whether a guess's read may start (lock held): not while a request waits on reads, if a guess takes the disk
    /// longer than a layer's compute (`GuessWindow`: olmoe-like's 3.5 MB experts on a 1 GB/s disk, 1.5 ms a layer),
    /// since read beside the request's it would delay them by as much. A guess the disk reads within a layer's
    /// compute (the tiny model's experts) costs the request little and gains a head start: it reads at once.
    private var guessesMayRead: Bool {
        awaitedCount == 0 || guessWindow.bytes(layers: 1).map { meanExpertBytes <= $0 } ?? false
    }

    /// Wakes one idle I/O thread per new read (lock held), not all of them: with many threads on few cores a
    /// broadcast per request costs the forward pass their wake-ups. A thread waits only when both queues are
    /// empty, so a read queued while every thread is busy is taken when one finishes.
    /// `packed`: whether the new reads are repacked as they arrive (beside io_uring, threads read those).
    private func wakeReaders(_ jobs: Int, packed: Bool) {
        readsSinceRequest += jobs
        #if os(Linux)
        if uring != nil {
            if packed { for _ in 0 ..< min(jobs, packThreads) { monitor.signalWork() } }
            return submitReads()
        }
        #endif
        for _ in 0 ..< min(jobs, max(0, readsInFlightLimit - reading)) { monitor.signalWork() }
    }

    /// The adaptive limit of reads in flight, chosen from the layer's compute time: the reads queued at one
    /// request (a miss's, and the guesses for the layers ahead) should be done by the next request, one
    /// layer's compute later. A read takes `startDelay + readSeconds` from queueing, so `rounds` reads one
    /// after another fit in a layer's time, and `readsPerRequest / rounds` must run at once. The tiny model
    /// computes a layer in 0.2 ms against ≈ 0.15 ms per 32 KiB read: one round, 9–10 in flight; olmoe-like
    /// takes ≈ 2 ms per layer: the floor of 4, since more threads would take time from the forward pass
    /// without reads to do. Called at each request (lock held); fixed when `ioThreads` is given.
    private func adaptReadsInFlight() {
        let now = ContinuousClock.now
        defer { lastRequest = now; readsSinceRequest = 0 }
        guard let last = lastRequest, !readsThroughUring else { return }
        let interval = (now - last).seconds
        guard interval < 0.25 else { return }   // a pause between prompts or tokens, not a layer's compute
        let a = 0.05
        requestInterval = requestInterval == 0 ? interval : (1 - a) * requestInterval + a * interval
        readsPerRequest = (1 - a) * readsPerRequest + a * Double(readsSinceRequest)
        guard readSeconds > 0, requestInterval > 0 else { return }
        let rounds = max(1, (requestInterval / (readSeconds + startDelay)).rounded(.down))
        let wanted = (readsPerRequest / rounds).rounded(.up)
        if options.ioThreads == nil {
            readsInFlightLimit = Int(min(Double(options.ioThreadCount), max(Double(ExpertCacheOptions.minimumReadsInFlight), wanted)))
        }
    }

    /// Waits until every expert of `ticket` is ready; their matrices' first bytes, in the ticket's order.
    public func wait(_ ticket: Ticket) throws -> [Pointers] {
        precondition(!isSimulation, "ExpertCache: wait on a simulated cache")
        monitor.lock()
        defer { monitor.unlock() }
        var start: ContinuousClock.Instant?
        let bytesBefore = bytesFinished
        while failure == nil, ticket.ids.contains(where: { phase[$0] != .ready }) {
            if start == nil { start = .now }
            awaitRead()
        }
        let now = ContinuousClock.now
        if let start {
            let stalled = (now - start).seconds
            statistics.layers[ticket.layer].stallSeconds += stalled
            stalls.append(stalled)
            guessWindow.stalled(bytes: bytesFinished - bytesBefore, seconds: stalled)
        }
        // Only a one-token layer's compute (at most top-k experts) times the guess window, which spends it on
        // decode guesses: a prompt batch's layers compute for up to the window's 0.25 s limit each, and
        // counted they would open it to hundreds of MB for the first tokens after the prompt.
        if ticket.ids.count <= layout.expertsPerToken { guessWindow.ready(at: now) }
        if let failure { throw failure }
        return ticket.ids.map { id in
            let base = UnsafeRawPointer(arena! + Int(slot[id]) * slotBytes)
            func at(_ p: Int) -> UnsafeRawPointer {
                base + regionOffset[p] + ExpertFileReader.lead(offset: layout.part(id, p).offset)
            }
            return Pointers(gate: at(0), up: at(1), down: at(2),
                            gateLayout: inPlaceLayout(id, 0), upLayout: inPlaceLayout(id, 1), downLayout: inPlaceLayout(id, 2))
        }
    }

    /// Unpins a ticket's experts.
    public func release(_ ticket: Ticket) {
        monitor.withLock { for id in ticket.ids { pins[id] -= 1 } }
    }

    /// Counts so far.
    public var stats: CacheStatistics { monitor.withLock { statistics } }
    /// Counts so far per expert (`[ids]`, id = layer · experts + expert); `stallSeconds` stays 0.
    public var statsPerExpert: [CacheStatistics.Layer] { monitor.withLock { expertStatistics } }
    /// Every stalled wait so far, in seconds, in order.
    public var stallDurations: [Double] { monitor.withLock { stalls } }
    public func resetStatistics() {
        monitor.withLock {
            statistics = CacheStatistics(layers: layout.layers)
            expertStatistics = Array(repeating: .init(), count: layout.ids)
            stalls = []
        }
    }

    /// Adds to expert `id`'s counts and its layer's (under the lock).
    private func count(_ id: Int, _ update: (inout CacheStatistics.Layer) -> Void) {
        update(&statistics.layers[id / layout.experts])
        update(&expertStatistics[id])
    }

    /// Puts absent expert `id` in slot `s` and queues its three reads (demand or prefetch); a simulation
    /// loads it at once, counting its bytes as read. Returns the reads queued (under the lock).
    private func startLoad(_ id: Int, slot s: Int32, demand: Bool, repack: Bool) -> Int {
        slot[id] = s
        packed[id] = repack
        if isSimulation {
            phase[id] = .ready
            let bytes = layout.bytes(of: id)
            count(id) { $0.bytesRead += bytes }
            return 0
        }
        phase[id] = .queued
        if !demand {
            guessLoading[id] = true
            guessBytesPending += layout.bytes(of: id)
        }
        let jobs = [id * 3, id * 3 + 1, id * 3 + 2]
        if demand { demandQueue += jobs } else { prefetchQueue += jobs }
        let now = ContinuousClock.now
        for j in jobs { queuedAt[j] = now }
        return jobs.count
    }
    /// Adds processed tokens to the statistics (for per-token figures).
    public func countTokens(_ n: Int) { monitor.withLock { statistics.tokens += n } }

    /// Share of `layer`'s loaded guesses that a request used so far (nil: too few guesses yet to tell), and
    /// the tokens counted: the predictive policy stops guessing for a layer whose guesses mostly go unused.
    func guessPrecision(layer: Int) -> (precision: Double?, tokens: Int) {
        monitor.withLock {
            let s = statistics.layers[layer]
            let used = s.prefetchHits + s.latePrefetches
            return (s.prefetches >= 8 ? Double(used) / Double(s.prefetches) : nil, statistics.tokens)
        }
    }

    /// Reads queued and not started: nonzero when the disk is the bottleneck. Through io_uring, where every
    /// queued read goes straight into the ring, the reads in flight beyond the I/O threads' floor count too,
    /// so that the predictive policy narrows its guesses at the same point on either path.
    public var ioBacklog: Int {
        monitor.withLock {
            #if os(Linux)
            if let uring { return demandQueue.count + prefetchQueue.count + max(0, uring.inFlight - ExpertCacheOptions.minimumReadsInFlight) }
            #endif
            return demandQueue.count + prefetchQueue.count
        }
    }

    /// Feeds the guess window one measurement as if observed: `bytesPerSecond` during a stall, then a layer's compute
    /// of `computeSeconds` (for tests).
    func measure(bytesPerSecond: Double, computeSeconds: Double) {
        monitor.withLock {
            guessWindow.stalled(bytes: Int(bytesPerSecond * 0.01), seconds: 0.01)
            let t0 = ContinuousClock.now
            guessWindow.ready(at: t0)
            guessWindow.requested(at: t0 + .seconds(computeSeconds))
        }
    }

    /// Guesses' reads queued and not started (held back while a request waits on a read).
    var guessReadsQueued: Int { monitor.withLock { prefetchQueue.count } }

    /// Whether `expert` of `layer` is held (queued, loading or ready): a request for it reads nothing.
    public func holds(layer: Int, expert: Int) -> Bool {
        monitor.withLock { phase[layout.id(layer: layer, expert: expert)] != .absent }
    }

    /// Experts held (queued, loading or ready).
    public var residentCount: Int { monitor.withLock { capacity - freeSlots.count } }

    // MARK: - Slots

    /// A free slot, else the slot of an evicted expert (neither pinned nor loading; protected guesses only
    /// for a demand load, and last). With `waiting` (a demand load), waits for a load to finish when every
    /// held expert is pinned or loading; else nil then.
    private func takeSlot(waiting: Bool) throws -> Int32? {
        while true {
            if let s = freeSlots.popLast() { return s }
            if let v = policy.victim(excluding: { [phase, pins, isProtected] in pins[$0] > 0 || phase[$0] == .loading || isProtected[$0] })
                ?? (waiting ? policy.victim(excluding: { [phase, pins] in pins[$0] > 0 || phase[$0] == .loading }) : nil) {
                evict(v)
                continue
            }
            guard waiting else { return nil }
            guard phase.contains(.loading) || !demandQueue.isEmpty || !prefetchQueue.isEmpty else {
                throw OffloadError.io(path: layout.files[0], what: "expert cache of \(capacity) slots has every slot pinned")
            }
            awaitRead()
            if let failure { throw failure }
        }
    }

    private func evict(_ id: Int) {
        let layer = id / layout.experts
        if phase[id] == .queued {
            prefetchQueue.removeAll { $0 / 3 == id }
            demandQueue.removeAll { $0 / 3 == id }
            if guessLoading[id] {   // (queued: none of its reads started)
                guessLoading[id] = false
                guessBytesPending -= layout.bytes(of: id)
            }
        }
        if byPrefetch[id] { count(id) { $0.wastedPrefetches += 1 } }
        count(id) { $0.evictions += 1 }
        byPrefetch[id] = false
        if isProtected[id] {
            isProtected[id] = false
            protectedCount -= 1
            speculative[layer].removeAll { $0 == id }
        }
        phase[id] = .absent
        policy.removed(id)
        freeSlots.append(slot[id])
        slot[id] = -1
    }

    // MARK: - Reads

    /// Waits (lock held) until some read has finished: reaps the ring, or sleeps until an I/O thread signals.
    /// With reads on both (a batch's repacked matrices on threads, a guess's on the ring), the lock is released
    /// while waiting, for the threads, and the ring is looked at every 0.2 ms.
    private func awaitRead() {
        #if os(Linux)
        if let uring {
            let packedWaiting = nextJob(.packed) != nil
            guard threadReading > 0 || packedWaiting else { return reapReads(wait: true) }
            // A guess's read that a request moved to the demand queue queued nothing new, so no thread was woken
            // for it; the threads may all be asleep.
            if packedWaiting { monitor.signalWork() }
            reapReads(wait: false)
            if uring.inFlight == 0 { return monitor.waitDone() }
            return monitor.waitDone(seconds: 0.000_2)
        }
        #endif
        monitor.waitDone()
    }

    /// Which reads a reader takes: every read (I/O threads without io_uring), or beside io_uring the matrices
    /// repacked as they arrive (threads: the reorder then overlaps the forward pass's compute, where the
    /// ring's reads are reaped and reordered by the computing thread itself between layers) or the others
    /// (the ring: no thread's wake-up per read).
    enum Reads { case any, packed, plain }

    /// Whether `job` is a read of kind `reads` (lock held).
    private func isRead(_ job: Int, _ reads: Reads) -> Bool {
        switch reads {
        case .any: return true
        case .packed: return packed[job / 3]
        case .plain: return !packed[job / 3]
        }
    }

    /// Where the next read of kind `reads` that may start now is (demand first; guesses as `guessesMayRead`
    /// allows), or nil (lock held).
    private func nextJob(_ reads: Reads) -> (demand: Bool, index: Int)? {
        if let i = demandQueue.firstIndex(where: { isRead($0, reads) }) { return (true, i) }
        if guessesMayRead, let i = prefetchQueue.firstIndex(where: { isRead($0, reads) }) { return (false, i) }
        return nil
    }

    /// Takes the next read of kind `reads` off the queues and marks its expert loading (lock held; one must wait).
    private func startNextRead(_ reads: Reads) -> (job: Int, region: UnsafeMutableRawPointer, started: ContinuousClock.Instant) {
        let next = nextJob(reads)!
        let job = next.demand ? demandQueue.remove(at: next.index) : prefetchQueue.remove(at: next.index)
        reading += 1
        let started = ContinuousClock.now
        startDelay = 0.95 * startDelay + 0.05 * (started - queuedAt[job]).seconds
        phase[job / 3] = .loading
        return (job, arena! + Int(slot[job / 3]) * slotBytes + regionOffset[job % 3], started)
    }

    /// The books after read `job` (lock held): bytes counted, and the expert ready once its three reads are
    /// done, or gone after a failure. `seconds`: the read's duration (nil: not timed).
    private func finishRead(_ job: Int, failed: OffloadError?, decompressed: Bool, seconds: Double?) {
        let id = job / 3, part = layout.part(id, job % 3)
        reading -= 1
        if failed == nil {
            if decompressed {
                count(id) { $0.bytesDecompressed += part.count }
            } else {
                count(id) { $0.bytesRead += part.count }
                bytesFinished += part.count
                if let seconds { readSeconds = readSeconds == 0 ? seconds : 0.95 * readSeconds + 0.05 * seconds }
            }
        }
        partsDone[id] += 1
        if guessLoading[id] { guessBytesPending -= part.count }
        if let failed, failure == nil { failure = failed }
        if partsDone[id] == 3 {   // the expert's last read: it is ready, or (after a failure) gone
            partsDone[id] = 0
            guessLoading[id] = false
            if isAwaited[id] {
                isAwaited[id] = false
                awaitedCount -= 1
                // The last awaited read: guesses held back may start (io_uring: `reapReads` submits them).
                if awaitedCount == 0, !readsThroughUring {
                    for _ in 0 ..< min(prefetchQueue.count, max(0, readsInFlightLimit - reading)) { monitor.signalWork() }
                } else if awaitedCount == 0, packThreads > 0 {
                    for _ in 0 ..< min(prefetchQueue.count { packed[$0 / 3] }, packThreads - threadReading) { monitor.signalWork() }
                }
            }
            if failure != nil {
                phase[id] = .absent
                policy.removed(id)
                freeSlots.append(slot[id])
                slot[id] = -1
            } else {
                phase[id] = .ready
            }
            monitor.broadcastDone()
        } else if failed != nil {
            monitor.broadcastDone()
        }
    }

    /// A synchronous read of `job` into `region` (lock not held).
    private func readNow(_ job: Int, into region: UnsafeMutableRawPointer) -> OffloadError? {
        let part = layout.part(job / 3, job % 3)
        do {
            try reader!.read(file: part.file, offset: part.offset, count: part.count, into: region)
            return nil
        } catch {
            return (error as? OffloadError) ?? .io(path: layout.files[part.file], what: "\(error)")
        }
    }

    /// io_uring: moves queued reads into the ring while it has room and hands them to the kernel (lock held).
    /// A range without O_DIRECT is read at once instead.
    private func submitReads() {
        #if os(Linux)
        guard let uring else { return }
        let reads: Reads = packThreads > 0 ? .plain : .any
        while uring.inFlight < uring.depth, nextJob(reads) != nil {
            let (job, region, _) = startNextRead(reads)
            let part = layout.part(job / 3, job % 3)
            if let d = reader!.directRead(file: part.file, offset: part.offset, count: part.count),
               uring.queue(fd: d.fd, into: region, length: d.length, offset: d.start, tag: UInt64(job)) { continue }
            let failed = readNow(job, into: region)
            finishRead(job, failed: failed, decompressed: false, seconds: nil)
        }
        uring.submit()
        #endif
    }

    /// io_uring: processes the reads that completed (with `wait`, after waiting for at least one), then refills
    /// the ring (lock held). A read that failed or came back short is done again synchronously, which
    /// reports what is wrong (EINVAL from a file system without direct I/O, a file that shrank).
    private func reapReads(wait: Bool) {
        #if os(Linux)
        guard let uring else { return }
        uring.reap(wait: wait) { tag, result in
            let job = Int(tag), part = layout.part(job / 3, job % 3)
            let needed = reader!.directRead(file: part.file, offset: part.offset, count: part.count)?.needed ?? part.count
            var failed: OffloadError?
            let region = arena! + Int(slot[job / 3]) * slotBytes + regionOffset[job % 3]
            if result < needed { failed = readNow(job, into: region) }
            // (What is repacked as it arrives is read by the pack threads, never through the ring.)
            finishRead(job, failed: failed, decompressed: false, seconds: nil)
        }
        submitReads()
        #endif
    }

    #if os(Linux)
    /// io_uring: registers the slot arena so that reads become `read_fixed` (no page pinning per read on the
    /// compute thread), on a thread of its own, once every slot has been read into: the pages are then faulted in,
    /// and registering them takes a fraction of a second (0.04 s for 1.4 GB on this kind of VM, where untouched
    /// memory took 1.2–4.6 s inside the system call, during which the ring's submissions wait). Until then reads
    /// are plain io_uring reads into the same memory. (Faulting the arena in ahead with MADV_POPULATE_WRITE
    /// cost the first prompt a core: an 8-token prompt of the 30B shape under 8 GiB prefilled at 0.7× the
    /// I/O threads' rate while 8 GiB were cleared beside it.)
    private func registerArena() {
        guard let uring else { return }
        while true {
            let (stop, full) = monitor.withLock { (stopping, freeSlots.isEmpty) }
            if stop { return }
            if full { break }
            usleep(20_000)
        }
        guard uring.registerArena() else { return }
        monitor.withLock { uring.useRegistered() }
    }
    #endif

    /// An I/O thread: reads of kind `reads`, one at a time.
    private func ioLoop(_ reads: Reads) {
        // Per thread: a zstd context and a buffer for one compressed matrix (compressed tier only).
        let zstd = compressedTier == nil ? nil : ZstdContext()
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: compressedTier == nil ? 1 : Zstd.compressBound(largestPart), alignment: 64)
        let ownRepackScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: options.repackInPlace ? Self.repackScratchBytes(layout) : 1,
                                                                      alignment: 64)
        defer { scratch.deallocate(); ownRepackScratch.deallocate() }
        monitor.lock()
        while true {
            // (Beside io_uring the ring's reads count in `reading`: the threads' own number is their limit.)
            while !stopping, nextJob(reads) == nil || (reads == .any && reading >= readsInFlightLimit) { monitor.waitWork() }
            if stopping { break }
            let (job, region, started) = startNextRead(reads)
            threadReading += 1
            let packing = inPlaceLayout(job / 3, job % 3)
            monitor.unlock()
            let part = layout.part(job / 3, job % 3)
            var failed: OffloadError?
            var decompressed = false
            let bytes = UnsafeMutableRawBufferPointer(start: region + ExpertFileReader.lead(offset: part.offset), count: part.count)
            do {
                if let tier = compressedTier, let zstd, try tier.decompress(job, into: bytes, context: zstd) {
                    decompressed = true
                } else {
                    failed = readNow(job, into: region)
                    if failed == nil, let tier = compressedTier, let zstd {
                        let n = try zstd.compress(UnsafeRawBufferPointer(bytes), into: scratch, level: options.compressionLevel)
                        _ = tier.insert(job, compressed: UnsafeRawBufferPointer(rebasing: scratch[0 ..< n]))
                    }
                }
            } catch {
                failed = (error as? OffloadError) ?? .io(path: layout.files[part.file], what: "\(error)")
            }
            if failed == nil { arrived(job, region: region, packing: packing, scratch: ownRepackScratch) }   // (the compressed copy stays row-major)
            let seconds = (ContinuousClock.now - started).seconds
            monitor.lock()
            threadReading -= 1
            finishRead(job, failed: failed, decompressed: decompressed, seconds: seconds)
        }
        monitor.unlock()
    }
}
