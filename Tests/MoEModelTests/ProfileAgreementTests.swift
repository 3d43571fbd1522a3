import Foundation
import MoEFormats
import MoEKernels
@testable import MoEModel
import MoEStore
import Testing
import TestSupport

/// moe-profile's claim that `run` and `simulate` agree: a live LRU (or LFU) run's counts equal the simulation
/// of the routing that run recorded, at the run's cache size, request for request.
@Suite struct ProfileAgreementTests {
    /// Feeds `tokens` one at a time through an offloaded tiny model and returns its routing trace and the
    /// cache's statistics.
    static func liveRun(policy: CachePolicyKind, experts: Int, tokens: [Int]) throws -> (RoutingTrace, CacheStatistics, ExpertCache) {
        let m = try Model(path: OffloadTests.model, offload: OffloadSettings(maxExperts: experts, cache: ExpertCacheOptions(policy: policy, ioThreads: 3)))
        let s = InferenceState(config: m.config, contextLength: 256, maxBatch: 1, threads: 1, precision: .q8)
        s.routingLog = RoutingLog(layerCount: m.config.layerCount)
        for (i, t) in tokens.enumerated() {
            if i % 200 == 0 { s.reset() }   // documents of 200 tokens
            _ = try m.forward([t], state: s)
        }
        let c = m.config, log = s.routingLog!
        let ids = (0 ..< tokens.count).flatMap { t in (0 ..< c.layerCount).flatMap { l in log.layers[l][t].experts.map { UInt16($0) } } }
        let trace = RoutingTrace(tokens: tokens.count, layers: c.layerCount, k: c.expertsPerToken, experts: c.expertCount, ids: ids)
        let cache = m.offload!.existingCache!
        return (trace, cache.stats, cache)
    }

    @Test(arguments: [(CachePolicyKind.lru, 64), (.lru, 40), (.lfu, 100)])
    func liveRunEqualsSimulationOfItsTrace(policy: CachePolicyKind, experts: Int) throws {
        let tokens = (0 ..< 600).map { ($0 * 2_654_435_761) % 4000 + 10 }   // spread over the vocabulary
        let (trace, live, cache) = try Self.liveRun(policy: policy, experts: experts, tokens: tokens)
        let sim = try CacheSimulator.simulate(trace, policy: SimulatedPolicy(rawValue: policy.rawValue)!, capacity: cache.capacity)
        print("\(policy) C=\(cache.capacity): live hits \(live.total.hits)/\(live.total.requests), simulated \(sim.statistics.total.hits)/\(sim.statistics.total.requests)")
        #expect(live.total.requests == sim.statistics.total.requests)
        #expect(live.total.hits == sim.statistics.total.hits)
        #expect(live.layers.map(\.hits) == sim.statistics.layers.map(\.hits))
        #expect(live.total.misses + live.total.latePrefetches == sim.statistics.total.misses)
        #expect(live.total.hits > 0 && live.total.hits < live.total.requests)   // the cache was really exercised
    }
}
