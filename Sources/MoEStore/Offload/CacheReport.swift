import Foundation
import MoEFormats

/// What `--cache-stats` prints and `--json` carries: the budget's split, the cache's counts per layer and
/// in total, and the predictor's recall.
public struct CacheReport: Codable, Sendable {
    public let policy: CachePolicyKind
    public let plan: BudgetPlan?
    public let statistics: CacheStatistics
    /// Share of expert requests served without waiting (hits + timely prefetches).
    public let servedWithoutWaiting: Double
    public let hitRate: Double
    /// Bytes read from disk per processed token.
    public let bytesReadPerToken: Double
    /// Per layer, the share of chosen experts the predictor named in advance (predictive policy; nil where none).
    public let predictionRecall: [Double?]?
    /// The process's peak resident memory when the report was made.
    public let peakResidentBytes: Int
    /// Reads the I/O threads may have in flight at once, as last set (fixed by `--io-threads`, else adapted).
    public let readsInFlightLimit: Int?
    /// "uring" or "threads": how the experts were read.
    public let reads: String?
    /// `--miss-precision low`: the low-bit copies' cache (nil without). The shares and bytes per token above
    /// count its requests and reads with the ready tier's.
    public let lowBit: LowBitReport?

    public struct LowBitReport: Codable, Sendable {
        /// Experts computed from their low-bit copy, and of those found in the low-bit cache.
        public let uses: Int
        public let hits: Int
        /// Bytes of low-bit copies read, and what reading the full copies of the same misses would have cost.
        public let bytesRead: Int
        public let fullBytesOfTheSameMisses: Int
        enum CodingKeys: String, CodingKey {
            case uses, hits, bytesRead = "bytes_read", fullBytesOfTheSameMisses = "full_bytes_of_the_same_misses"
        }
    }

    enum CodingKeys: String, CodingKey {
        case policy, plan, statistics, servedWithoutWaiting = "served_without_waiting", hitRate = "hit_rate"
        case bytesReadPerToken = "bytes_read_per_token", predictionRecall = "prediction_recall"
        case peakResidentBytes = "peak_resident_bytes", readsInFlightLimit = "reads_in_flight_limit", reads, lowBit = "low_bit"
    }

    public init(offload: ExpertOffload) {
        let cache = offload.existingCache
        policy = offload.settings.cache.policy
        plan = offload.plan
        statistics = cache?.stats ?? CacheStatistics(layers: offload.layout.layers)
        var all = statistics.total
        if let low = offload.lowBitCache {
            let t = low.stats.total
            let fullBytes = zip(low.statsPerExpert.indices, low.statsPerExpert).reduce(0) { $0 + $1.1.misses * offload.layout.bytes(of: $1.0) }
            lowBit = LowBitReport(uses: t.requests, hits: t.hits, bytesRead: t.bytesRead, fullBytesOfTheSameMisses: fullBytes)
            all.add(t)
        } else {
            lowBit = nil
        }
        servedWithoutWaiting = all.requests > 0 ? Double(all.servedWithoutWaiting) / Double(all.requests) : 0
        hitRate = all.requests > 0 ? Double(all.hits) / Double(all.requests) : 0
        bytesReadPerToken = statistics.tokens > 0 ? Double(all.bytesRead) / Double(statistics.tokens) : 0
        predictionRecall = cache?.predictor?.recallPerLayer
        peakResidentBytes = ProcessMemory.peakResidentBytes()
        readsInFlightLimit = cache?.readsInFlightLimit
        reads = cache.map { $0.readsThroughUring ? "uring" : "threads" }
    }

    /// A table for people: one line per MoE layer and a total.
    public func text() -> String {
        var lines: [String] = []
        if let p = plan {
            let budget = p.budgetBytes.map { ByteSize.format($0) } ?? "none"
            lines.append("expert cache (\(policy.rawValue)): budget \(budget); process before the cache \(ByteSize.format(p.processBytes)) " +
                         "(non-expert weights \(ByteSize.format(p.residentWeightBytes))), margin \(ByteSize.format(p.marginBytes)); " +
                         "ready tier \(p.slots) of \(p.experts) experts × \(ByteSize.format(p.slotBytes)) = \(ByteSize.format(p.readyTierBytes)); " +
                         "compressed tier \(ByteSize.format(p.compressedTierBytes))" +
                         (p.compressionRatio.map { String(format: " (experts compress to %.3f)", $0) } ?? "") +
                         "; RSS now \(ByteSize.format(ProcessMemory.residentBytes())), peak \(ByteSize.format(peakResidentBytes))")
        }
        func pct(_ a: Int, _ b: Int) -> String { b > 0 ? String(format: "%5.1f%%", 100 * Double(a) / Double(b)) : "    -" }
        lines.append("layer  requests   hits  prefetch-hits  late  misses  prefetched  wasted  served   read MiB  stall s  recall")
        for (l, s) in statistics.layers.enumerated() where s.requests > 0 {
            let recall = predictionRecall?[l].map { String(format: "%5.1f%%", 100 * $0) } ?? "    -"
            lines.append(String(format: "%5d %9d %6d %14d %5d %7d %11d %7d  %@ %10.1f %8.2f  %@", l, s.requests, s.hits, s.prefetchHits,
                                s.latePrefetches, s.misses, s.prefetches, s.wastedPrefetches, pct(s.servedWithoutWaiting, s.requests),
                                Double(s.bytesRead) / 1048576, s.stallSeconds, recall))
        }
        let t = statistics.total
        lines.append(String(format: "total %9d %6d %14d %5d %7d %11d %7d  %@ %10.1f %8.2f", t.requests, t.hits, t.prefetchHits,
                            t.latePrefetches, t.misses, t.prefetches, t.wastedPrefetches, pct(t.servedWithoutWaiting, t.requests),
                            Double(t.bytesRead) / 1048576, t.stallSeconds))
        lines.append(String(format: "%d tokens; served without waiting %.3f (hits %.3f); %.1f MiB read per token, %.1f MiB decompressed in all; %.2f s stalled",
                            statistics.tokens, servedWithoutWaiting, hitRate, bytesReadPerToken / 1048576,
                            Double(t.bytesDecompressed) / 1048576, t.stallSeconds) +
                     (readsInFlightLimit.map { "; reads in flight at most \($0)" } ?? "") + (reads.map { " (\($0))" } ?? ""))
        if let b = lowBit {
            lines.append(String(format: "low-bit copies: %d uses (%d found in their cache of %d), %.1f MiB read where the full copies would have been %.1f MiB",
                                b.uses, b.hits, plan?.lowBitSlots ?? 0, Double(b.bytesRead) / 1048576, Double(b.fullBytesOfTheSameMisses) / 1048576))
        }
        return lines.joined(separator: "\n")
    }
}
