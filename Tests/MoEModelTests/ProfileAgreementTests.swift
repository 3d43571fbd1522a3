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
        let documents = stride(from: 0, to: tokens.count, by: 200).map { Array(tokens[$0 ..< min(tokens.count, $0 + 200)]) }
        let trace = try m.recordRouting(documents: documents, state: s)
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
