/// What an expert cache did, per layer and in total. Counted by the cache as it serves requests.
///
/// Every request for an expert is exactly one of: a hit (resident from an earlier use), a prefetch hit
/// (brought in by a prediction and ready when asked for), a late prefetch (predicted, but still loading:
/// the request waited), or a miss (loaded on demand: the request waited).
public struct CacheStatistics: Codable, Sendable, Equatable {
    public struct Layer: Codable, Sendable, Equatable {
        public var requests = 0
        public var hits = 0
        public var prefetchHits = 0
        public var latePrefetches = 0
        public var misses = 0
        /// Loads started by a prediction.
        public var prefetches = 0
        /// Predicted experts evicted before any request used them.
        public var wastedPrefetches = 0
        /// Experts evicted (any reason).
        public var evictions = 0
        public var bytesRead = 0
        public var bytesDecompressed = 0
        /// Seconds the compute thread waited for this layer's experts.
        public var stallSeconds = 0.0

        /// Requests served without waiting: hits and timely prefetches.
        public var servedWithoutWaiting: Int { hits + prefetchHits }

        enum CodingKeys: String, CodingKey {
            case requests, hits, prefetchHits = "prefetch_hits", latePrefetches = "late_prefetches", misses
            case prefetches, wastedPrefetches = "wasted_prefetches", evictions, bytesRead = "bytes_read"
            case bytesDecompressed = "bytes_decompressed", stallSeconds = "stall_seconds"
        }

        public mutating func add(_ o: Layer) {
            requests += o.requests; hits += o.hits; prefetchHits += o.prefetchHits; latePrefetches += o.latePrefetches
            misses += o.misses; prefetches += o.prefetches; wastedPrefetches += o.wastedPrefetches
            evictions += o.evictions; bytesRead += o.bytesRead; bytesDecompressed += o.bytesDecompressed
            stallSeconds += o.stallSeconds
        }
    }

    public var layers: [Layer]
    /// Tokens processed while these were counted (set by the forward pass).
    public var tokens = 0

    public init(layers: Int) { self.layers = Array(repeating: Layer(), count: layers) }

    public var total: Layer { layers.reduce(into: Layer()) { $0.add($1) } }
    /// Share of requests served without waiting (hits + timely prefetches) / requests.
    public var servedWithoutWaitingShare: Double {
        let t = total
        return t.requests > 0 ? Double(t.servedWithoutWaiting) / Double(t.requests) : 0
    }
    /// Share of requests that found the expert resident from an earlier use (no prefetch involved).
    public var hitRate: Double { let t = total; return t.requests > 0 ? Double(t.hits) / Double(t.requests) : 0 }
}
