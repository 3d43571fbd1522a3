import MoEFormats

/// Replays expert requests through a cache of fixed capacity (in experts) with a `CachePolicy`: the same
/// policy code the engine's cache uses. Requests are in decode order: token by token, layer by layer, the
/// token's chosen experts of that layer; a miss loads the expert (demand caching, no prefetch).
public struct CacheSimulator {
    public struct Result: Sendable, Equatable {
        public var requests = 0
        public var hits = 0
        public init(requests: Int = 0, hits: Int = 0) { (self.requests, self.hits) = (requests, hits) }
        public var hitRate: Double { requests > 0 ? Double(hits) / Double(requests) : 0 }
    }

    /// Dense ids of every request of `trace` in decode order (layer · experts + expert).
    public static func requests(_ trace: RoutingTrace) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(trace.ids.count)
        for t in 0 ..< trace.tokens {
            for l in 0 ..< trace.layers {
                for e in trace.experts(token: t, layer: l) { out.append(ExpertID.make(layer: l, expert: Int(e), experts: trace.experts)) }
            }
        }
        return out
    }

    /// Hit rate of one cache of `capacity` experts shared by all layers.
    public static func replay<P: CachePolicy>(_ requests: [Int], ids: Int, capacity: Int, policy: inout P) -> Result {
        let flags = replayFlags(requests, ids: ids, capacity: capacity, policy: &policy)
        return Result(requests: flags.count, hits: flags.filter { $0 }.count)
    }

    /// Whether each request hit.
    static func replayFlags<P: CachePolicy>(_ requests: [Int], ids: Int, capacity: Int, policy: inout P) -> [Bool] {
        precondition(capacity > 0)
        var resident = [Bool](repeating: false, count: ids)
        var size = 0
        var hits = [Bool](repeating: false, count: requests.count)
        for (time, id) in requests.enumerated() {
            if resident[id] {
                hits[time] = true
                policy.used(id, at: time)
                continue
            }
            if size == capacity {
                let v = policy.victim()
                resident[v] = false
                policy.removed(v)
                size -= 1
            }
            resident[id] = true
            size += 1
            policy.inserted(id, at: time)
        }
        return hits
    }
}
