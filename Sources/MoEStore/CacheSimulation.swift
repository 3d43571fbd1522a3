import MoEFormats

/// Policies the simulator replays: the engine's three, and Belady's MIN, the offline optimum of demand
/// caching (it evicts the expert whose next request is furthest away, which only a recorded trace knows).
public enum SimulatedPolicy: String, CaseIterable, Codable, Sendable {
    case lru, lfu, predictive, belady

    /// The engine's policy, nil for Belady.
    public var engine: CachePolicyKind? { CachePolicyKind(rawValue: rawValue) }
}

/// One simulated cache over a trace: what the engine's cache would have counted with loads that take no
/// time (so prefetches are never late and nothing stalls). `hitRate` counts hits on experts resident from an
/// earlier use; `servedWithoutWaiting` adds timely prefetches (the predictive policy's gain).
public struct Simulation: Codable, Sendable {
    public var policy: SimulatedPolicy
    /// Experts held in all (per layer: `capacity / layers` each).
    public var capacity: Int
    public var perLayer: Bool
    /// Whether a layer's experts were requested together (as the engine does) or one at a time.
    public var requests: RequestGrouping
    public var statistics: CacheStatistics
    public var hitRate: Double
    public var servedWithoutWaiting: Double
    /// Per layer, the share of chosen experts the predictor named in advance (predictive only).
    public var predictionRecall: [Double?]?
    /// The low-bit copies' cache (`LowBitSimulation`), nil without one.
    public var lowBit: CacheStatistics?

    enum CodingKeys: String, CodingKey {
        case policy, capacity, perLayer = "per_layer", requests, statistics, hitRate = "hit_rate"
        case servedWithoutWaiting = "served_without_waiting", predictionRecall = "prediction_recall", lowBit = "low_bit"
    }

    init(policy: SimulatedPolicy, capacity: Int, perLayer: Bool, requests: RequestGrouping, statistics: CacheStatistics, recall: [Double?]?) {
        (self.policy, self.capacity, self.perLayer, self.statistics) = (policy, capacity, perLayer, statistics)
        self.requests = requests
        hitRate = statistics.hitRate
        servedWithoutWaiting = statistics.servedWithoutWaitingShare
        predictionRecall = recall
    }
}

/// `--miss-precision low` in simulation (`LowBitMisses`): a token's experts ranked `fullRank` or lower by mixing
/// weight (the trace's order) that the main cache does not hold are asked of a second cache of `capacity`
/// low-bit copies (LFU, as the engine makes it), whose `layout` gives their bytes.
public struct LowBitSimulation: Sendable {
    public var layout: ExpertLayout
    public var capacity: Int
    public var fullRank: Int
    public init(layout: ExpertLayout, capacity: Int, fullRank: Int) {
        (self.layout, self.capacity, self.fullRank) = (layout, capacity, fullRank)
    }
}

/// How a layer's chosen experts reach the cache.
public enum RequestGrouping: String, Codable, Sendable, CaseIterable {
    /// All of a layer's experts in one request, pinned together (the engine): a miss never evicts an expert
    /// the same layer is about to use.
    case layer
    /// One expert per request, as the replay tables of ../shared/README.md count (textbook LRU/LFU/MIN): a miss
    /// may evict an expert that the same layer then misses.
    case single
}

public enum SimulationError: Error, CustomStringConvertible, Equatable {
    case capacity(Int, least: Int, most: Int, perLayer: Bool)
    case perLayerPredictive
    case lowBitCapacity(Int, least: Int, most: Int)
    case lowBitBelady

    public var description: String {
        switch self {
        case let .capacity(c, least, most, perLayer):
            return "a cache of \(c) experts\(perLayer ? " (per layer)" : "") is out of range: it must hold \(least) to \(most) experts " +
                "(at least one layer's top-k\(perLayer ? " in every layer" : ""), at most all of them)"
        case let .lowBitCapacity(c, least, most):
            return "a low-bit cache of \(c) experts is out of range: it must hold \(least) to \(most) experts, and share one cache for all layers"
        case .lowBitBelady:
            return "Belady's MIN is a bound for one cache of full copies; it does not simulate low-bit copies"
        case .perLayerPredictive:
            return "the predictive policy prefetches into later layers' slots, so it needs one cache for all layers (no per-layer budget)"
        }
    }
}

extension CacheSimulator {
    /// A layout for a trace alone (all layers MoE, no files): every expert `expertBytes` bytes (the three
    /// matrices get a third each), so that bytes read come out in a model's units when it is known.
    public static func layout(for trace: RoutingTrace, expertBytes: Int = 3) -> ExpertLayout {
        let third = max(1, expertBytes / 3)
        let sizes = [third, third, max(1, expertBytes - 2 * third)]
        let parts = (0 ..< trace.layers * trace.experts * 3).map {
            ExpertLayout.Part(file: 0, offset: 0, count: sizes[$0 % 3], type: .q8_0, rows: 1, cols: 32)
        }
        return ExpertLayout(layers: trace.layers, experts: trace.experts, expertsPerToken: trace.k, files: ["(trace)"],
                            fileSizes: [0], isMoE: Array(repeating: true, count: trace.layers), parts: parts)
    }

    /// Replays `trace` (tokens in `range`, decode order) through a cache of `capacity` experts. LRU, LFU and
    /// predictive run the engine's own `ExpertCache` in simulation mode, requested exactly as the forward pass
    /// requests them (each layer's experts in the router's order, the predictive policy's guesses made after
    /// each layer and at each token's start by `ExpertCache.prefetchAhead`); Belady's MIN runs `replay`.
    /// `perLayer`: every layer its own cache of `capacity / layers` experts. `lowBit`: lower-ranked misses go to
    /// a cache of low-bit copies, as the forward pass sends them in decode (one cache for all layers only).
    public static func simulate(_ trace: RoutingTrace, layout: ExpertLayout? = nil, policy: SimulatedPolicy, capacity: Int,
                                perLayer: Bool = false, requests grouping: RequestGrouping = .layer,
                                options: ExpertCacheOptions = ExpertCacheOptions(),
                                range: Range<Int>? = nil, lowBit: LowBitSimulation? = nil) throws -> Simulation {
        let layout = layout ?? Self.layout(for: trace)
        let total = trace.layers * trace.experts
        let each = perLayer ? capacity / trace.layers : capacity
        guard each >= trace.k, capacity <= total else {
            throw SimulationError.capacity(capacity, least: perLayer ? trace.k * trace.layers : trace.k, most: total, perLayer: perLayer)
        }
        let range = range ?? 0 ..< trace.tokens
        if policy == .belady {
            if lowBit != nil { throw SimulationError.lowBitBelady }
            return belady(trace, layout: layout, capacity: capacity, perLayer: perLayer, grouping: grouping, range: range)
        }
        if perLayer, policy == .predictive { throw SimulationError.perLayerPredictive }
        if let lowBit, perLayer || lowBit.capacity < trace.k || lowBit.capacity > total {
            throw SimulationError.lowBitCapacity(lowBit.capacity, least: trace.k, most: total)
        }
        var o = options
        o.policy = policy.engine!
        let caches = (0 ..< (perLayer ? trace.layers : 1)).map { _ in ExpertCache(simulating: layout, capacity: each, options: o) }
        var lowOptions = o
        lowOptions.policy = .lfu
        let lowCache = lowBit.map { ExpertCache(simulating: $0.layout, capacity: $0.capacity, options: lowOptions) }
        let next: (Int) -> Int? = { $0 + 1 < trace.layers ? $0 + 1 : nil }
        let fullRank = lowBit?.fullRank
        // The forward pass's group size: at most half the slots, at least top-k.
        let groupSize = min(each, max(trace.k, each / 2))
        for t in range {
            caches[0].prefetchAhead(after: -1, next: next, fullRank: fullRank, routerProbs: { _ in nil })
            for l in 0 ..< trace.layers {
                let cache = caches[perLayer ? l : 0]
                var chosen = trace.experts(token: t, layer: l).map(Int.init)
                cache.predictor?.observe(layer: l, chosen: chosen)
                // Low-bit mode: the lower-ranked experts the cache does not hold go to the low-bit copies.
                var lowTicket: ExpertCache.Ticket?
                if let lowBit, let lowCache {
                    let low = chosen.dropFirst(lowBit.fullRank).filter { !cache.holds(layer: l, expert: $0) }.sorted()
                    if !low.isEmpty {
                        lowTicket = try lowCache.request(layer: l, experts: low)
                        chosen.removeAll { low.contains($0) }
                    }
                }
                defer { if let lowTicket { lowCache!.release(lowTicket) } }
                if chosen.isEmpty { cache.prefetchAhead(after: l, next: next, fullRank: fullRank, routerProbs: { _ in nil }) }
                let groups: [[Int]]
                if grouping == .single {
                    groups = chosen.map { [$0] }
                } else if chosen.count <= groupSize {
                    groups = [chosen]
                } else {   // split in ascending order, as the forward pass splits
                    let sorted = chosen.sorted()
                    groups = stride(from: 0, to: sorted.count, by: groupSize).map { Array(sorted[$0 ..< min(sorted.count, $0 + groupSize)]) }
                }
                for (g, group) in groups.enumerated() {
                    let ticket = try cache.request(layer: l, experts: group)
                    if g + 1 < groups.count {
                        // The forward pass loads a layer's next group while this one computes.
                        if grouping == .layer { cache.prefetch(layer: l, experts: groups[g + 1]) }
                    } else {
                        cache.prefetchAhead(after: l, next: next, fullRank: fullRank, routerProbs: { _ in nil })
                    }
                    cache.release(ticket)
                }
            }
            for c in caches { c.countTokens(1) }
            lowCache?.countTokens(1)
        }
        var stats = CacheStatistics(layers: trace.layers)
        for (i, c) in caches.enumerated() {
            let s = c.stats
            if perLayer { stats.layers[i] = s.layers[i] } else { stats.layers = s.layers }
            stats.tokens = s.tokens
        }
        var simulation = Simulation(policy: policy, capacity: capacity, perLayer: perLayer, requests: grouping, statistics: stats,
                                    recall: caches[0].predictor?.recallPerLayer)
        simulation.lowBit = lowCache?.stats
        return simulation
    }

    /// Belady's MIN over the trace's requests (router order, one at a time), global or per layer: the optimum
    /// of demand caching, an upper bound for either grouping (`grouping` is only recorded).
    private static func belady(_ trace: RoutingTrace, layout: ExpertLayout, capacity: Int, perLayer: Bool, grouping: RequestGrouping,
                               range: Range<Int>) -> Simulation {
        let all = requests(trace.tokens(in: range))
        let ids = trace.layers * trace.experts
        var stats = CacheStatistics(layers: trace.layers)
        stats.tokens = range.count
        let streams = perLayer ? (0 ..< trace.layers).map { l in all.filter { $0 / trace.experts == l } } : [all]
        for stream in streams {
            var policy = BeladyPolicy(ids: ids, requests: stream)
            let hitFlags = replayFlags(stream, ids: ids, capacity: perLayer ? capacity / trace.layers : capacity, policy: &policy)
            for (id, hit) in zip(stream, hitFlags) {
                let l = id / trace.experts
                stats.layers[l].requests += 1
                if hit { stats.layers[l].hits += 1 } else {
                    stats.layers[l].misses += 1
                    stats.layers[l].bytesRead += layout.bytes(of: id)
                }
            }
        }
        return Simulation(policy: .belady, capacity: capacity, perLayer: perLayer, requests: grouping, statistics: stats, recall: nil)
    }
}
