import Foundation
import MoEFormats
import MoEStore
import Testing
import TestSupport

/// The cache policies replayed on the reference traces must reproduce the replay tables of
/// ../shared/README.md (one cache shared by all layers, decode order, hit rate = hits / requests).
@Suite(.enabled(if: SharedData.root != nil, "../shared (the routing traces) is absent"))
struct CacheReplayTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let trace: String
        let capacity: Int
        let lru: Double, lfu: Double, belady: Double
        var testDescription: String { "\(trace) C=\(capacity)" }
    }

    static let cases: [Case] = [
        Case(trace: "models/tiny-qwen3moe", capacity: 32, lru: 0.293, lfu: 0.342, belady: 0.591),
        Case(trace: "models/tiny-qwen3moe", capacity: 64, lru: 0.539, lfu: 0.548, belady: 0.783),
        Case(trace: "models/tiny-qwen3moe", capacity: 128, lru: 0.833, lfu: 0.798, belady: 0.936),
        Case(trace: "models/tiny-qwen3moe", capacity: 192, lru: 0.964, lfu: 0.947, belady: 0.988),
        Case(trace: "traces/route-16x64-top8", capacity: 128, lru: 0.255, lfu: 0.281, belady: 0.587),
        Case(trace: "traces/route-16x64-top8", capacity: 256, lru: 0.518, lfu: 0.480, belady: 0.773),
        Case(trace: "traces/route-16x64-top8", capacity: 409, lru: 0.713, lfu: 0.660, belady: 0.883),
        Case(trace: "traces/route-16x64-top8", capacity: 512, lru: 0.806, lfu: 0.754, belady: 0.927),
        Case(trace: "traces/route-16x64-top8", capacity: 768, lru: 0.951, lfu: 0.918, belady: 0.984),
    ]

    static func load(_ name: String) throws -> (RoutingTrace, [Int]) {
        let trace = try RoutingTrace(sharedTrace: SharedData.root! + "/" + name)
        return (trace, CacheSimulator.requests(trace))
    }

    @Test(arguments: cases)
    func readmeTable(c: Case) throws {
        let (trace, requests) = try Self.load(c.trace)
        let ids = trace.layers * trace.experts
        var lru = LRUPolicy(ids: ids)
        var lfu = LFUPolicy(ids: ids)
        var belady = BeladyPolicy(ids: ids, requests: requests)
        let got = (CacheSimulator.replay(requests, ids: ids, capacity: c.capacity, policy: &lru).hitRate,
                   CacheSimulator.replay(requests, ids: ids, capacity: c.capacity, policy: &lfu).hitRate,
                   CacheSimulator.replay(requests, ids: ids, capacity: c.capacity, policy: &belady).hitRate)
        print("\(c.testDescription): LRU \(got.0) LFU \(got.1) Belady \(got.2)")
        // The README gives three decimals: equal when rounded.
        #expect((got.0 * 1000).rounded() == c.lru * 1000)
        #expect((got.1 * 1000).rounded() == c.lfu * 1000)
        #expect((got.2 * 1000).rounded() == c.belady * 1000)
    }

    @Test func beladyIsAnUpperBound() throws {
        let (trace, requests) = try Self.load("models/tiny-qwen3moe")
        let ids = trace.layers * trace.experts
        for capacity in [16, 48, 100] {
            var lru = LRUPolicy(ids: ids), lfu = LFUPolicy(ids: ids, decay: 0.5)
            var belady = BeladyPolicy(ids: ids, requests: requests)
            let b = CacheSimulator.replay(requests, ids: ids, capacity: capacity, policy: &belady).hits
            #expect(CacheSimulator.replay(requests, ids: ids, capacity: capacity, policy: &lru).hits <= b)
            #expect(CacheSimulator.replay(requests, ids: ids, capacity: capacity, policy: &lfu).hits <= b)
        }
    }

    /// A guess loaded before any request (`insertedCold`) is LFU's next victim unless its earlier requests
    /// outrank the residents; once requested it counts like any other.
    @Test func lfuRanksAColdInsertionByItsHistory() {
        var lfu = LFUPolicy(ids: 8)
        var t = 0
        func use(_ id: Int, times: Int = 1) { for _ in 0 ..< times { t += 1; lfu.used(id, at: t) } }
        lfu.inserted(0, at: 0); use(0, times: 2)          // 3 requests
        t += 1; lfu.inserted(1, at: t); use(1)            // 2 requests
        lfu.insertedCold(2, at: t)                        // never requested
        #expect(lfu.victim() == 2)
        use(2, times: 3)                                  // now 3 requests, the most recent
        #expect(lfu.victim() == 1)
        lfu.removed(1)
        lfu.insertedCold(1, at: t)                        // back on a guess: its 2 earlier requests still count
        #expect(lfu.victim() == 1)
        use(1, times: 2)                                  // 4 requests: the others go first, oldest use first
        #expect(lfu.victim() == 0)
    }

    @Test func badTraces() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.file("trace.bin")))
        try Data(#"{"shape": [1, 1, 4], "experts": 8}"#.utf8).write(to: URL(fileURLWithPath: dir.file("trace.json")))
        #expect(throws: FormatError.self) { try RoutingTrace(sharedTrace: dir.path) } // truncated
        try Data([1, 2, 3, 9]).write(to: URL(fileURLWithPath: dir.file("trace.bin")))
        #expect(throws: FormatError.self) { try RoutingTrace(sharedTrace: dir.path) } // id 9 of 8 experts
        try Data(#"{"shape": [1, 4], "experts": 8}"#.utf8).write(to: URL(fileURLWithPath: dir.file("trace.json")))
        #expect(throws: FormatError.self) { try RoutingTrace(sharedTrace: dir.path) } // bad shape
    }
}

/// `CacheSimulator.simulate` runs the engine's `ExpertCache` in simulation mode: on the shared traces, with one
/// request per expert (the README's rule), it must give the README's LRU and Belady figures exactly.
@Suite(.enabled(if: SharedData.root != nil, "../shared (the routing traces) is absent"))
struct SimulationTests {
    @Test(arguments: CacheReplayTests.cases)
    func engineCacheReproducesTheReadme(c: CacheReplayTests.Case) throws {
        let trace = try RoutingTrace(sharedTrace: SharedData.root! + "/" + c.trace)
        let lru = try CacheSimulator.simulate(trace, policy: .lru, capacity: c.capacity, requests: .single)
        let belady = try CacheSimulator.simulate(trace, policy: .belady, capacity: c.capacity, requests: .single)
        // The engine asks for a layer's experts together and pins them: never fewer hits than one at a time.
        let grouped = try CacheSimulator.simulate(trace, policy: .lru, capacity: c.capacity)
        #expect(grouped.statistics.total.hits >= lru.statistics.total.hits)
        #expect(grouped.statistics.total.hits <= belady.statistics.total.hits)
        #expect((lru.hitRate * 1000).rounded() == c.lru * 1000)
        #expect((belady.hitRate * 1000).rounded() == c.belady * 1000)
        #expect(lru.statistics.total.requests == trace.tokens * trace.layers * trace.k)
        let t = lru.statistics.total
        #expect(t.misses == t.requests - t.hits, "\(t)")
    }

    @Test func predictiveAndPerLayer() throws {
        let trace = try RoutingTrace(sharedTrace: SharedData.root! + "/models/tiny-qwen3moe")
        let range = 0 ..< 4000
        let lru = try CacheSimulator.simulate(trace, policy: .lru, capacity: 64, range: range)
        let predictive = try CacheSimulator.simulate(trace, policy: .predictive, capacity: 64, range: range)
        let belady = try CacheSimulator.simulate(trace, policy: .belady, capacity: 64, range: range)
        print("tiny C=64, 4000 tokens: LRU \(lru.hitRate), predictive served \(predictive.servedWithoutWaiting) " +
              "(hits \(predictive.hitRate)), Belady \(belady.hitRate), recall \(predictive.predictionRecall ?? [])")
        // Timely prefetches on top of LRU eviction: more served than LRU's hits, and every request counted once.
        #expect(predictive.servedWithoutWaiting > lru.hitRate)
        let t = predictive.statistics.total
        #expect(t.hits + t.prefetchHits + t.latePrefetches + t.misses == t.requests)
        #expect(t.latePrefetches == 0)   // loads take no time in a simulation
        // Per-layer budgets: each layer its own LRU of C / layers; Belady still bounds it.
        let perLayer = try CacheSimulator.simulate(trace, policy: .lru, capacity: 64, perLayer: true, range: range)
        let perLayerBelady = try CacheSimulator.simulate(trace, policy: .belady, capacity: 64, perLayer: true, range: range)
        #expect(perLayer.hitRate <= perLayerBelady.hitRate)
        #expect(perLayer.statistics.total.requests == lru.statistics.total.requests)
        #expect(throws: SimulationError.self) { try CacheSimulator.simulate(trace, policy: .lru, capacity: 3) }
        #expect(throws: SimulationError.self) { try CacheSimulator.simulate(trace, policy: .lru, capacity: 257) }
        #expect(throws: SimulationError.self) { try CacheSimulator.simulate(trace, policy: .predictive, capacity: 64, perLayer: true) }
    }

    /// Low-bit copies in simulation: with every rank kept full nothing goes low-bit and the main cache counts as
    /// without them; with only the top rank full, the lower ranks the main cache misses go low-bit, every request
    /// is counted once in one of the two caches, and the main cache is asked fewer times.
    @Test(arguments: [CachePolicyKind.lfu, .predictive])
    func lowBitSplitsTheRequests(policy: CachePolicyKind) throws {
        let trace = try RoutingTrace(sharedTrace: SharedData.root! + "/models/tiny-qwen3moe")
        let range = 0 ..< 1000
        let p = SimulatedPolicy(rawValue: policy.rawValue)!
        let low = CacheSimulator.layout(for: trace, expertBytes: 1)
        let plain = try CacheSimulator.simulate(trace, policy: p, capacity: 48, range: range)
        let allFull = try CacheSimulator.simulate(trace, policy: p, capacity: 48, range: range,
                                                  lowBit: LowBitSimulation(layout: low, capacity: 32, fullRank: trace.k))
        #expect(allFull.statistics == plain.statistics)
        #expect(allFull.lowBit?.total.requests == 0)
        let topOne = try CacheSimulator.simulate(trace, policy: p, capacity: 48, range: range,
                                                 lowBit: LowBitSimulation(layout: low, capacity: 32, fullRank: 1))
        let main = topOne.statistics.total, lowBit = try #require(topOne.lowBit).total
        #expect(lowBit.requests > 0 && main.requests + lowBit.requests == range.count * trace.layers * trace.k)
        #expect(main.requests >= range.count * trace.layers)   // the top rank always full
        #expect(lowBit.hits + lowBit.misses == lowBit.requests)
        #expect(throws: SimulationError.self) {
            try CacheSimulator.simulate(trace, policy: p, capacity: 48, lowBit: LowBitSimulation(layout: low, capacity: 2, fullRank: 1))
        }
        #expect(throws: SimulationError.self) {
            try CacheSimulator.simulate(trace, policy: .belady, capacity: 48, lowBit: LowBitSimulation(layout: low, capacity: 32, fullRank: 1))
        }
    }
}

/// The reuse-distance histogram (moe-profile's figure) against a direct count, and its meaning: an LRU cache
/// of C experts asked one expert at a time hits exactly the requests whose distance is below C.
@Suite struct ReuseDistanceTests {
    /// Distinct experts requested strictly between each request and the previous one for the same expert.
    static func naive(_ requests: [Int]) -> [Int?] {
        requests.indices.map { t in
            guard let prev = requests[..<t].lastIndex(of: requests[t]) else { return nil }
            return Set(requests[(prev + 1) ..< t]).count
        }
    }

    static func randomTrace(tokens: Int, seed: UInt64) -> RoutingTrace {
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        var ids: [UInt16] = []
        for _ in 0 ..< tokens * 3 {   // 3 layers, top-2 of 6, skewed towards low ids
            let a = UInt16(min(next() % 6, next() % 6))
            var b = UInt16(next() % 6)
            if b == a { b = (a + 1) % 6 }
            ids += [a, b]
        }
        return RoutingTrace(tokens: tokens, layers: 3, k: 2, experts: 6, ids: ids)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func histogramMatchesADirectCount(seed: UInt64) {
        let trace = Self.randomTrace(tokens: 150, seed: seed)
        let direct = Self.naive(CacheSimulator.requests(trace))
        let (histogram, edges, cold) = TraceAnalysis.reuseDistances(trace)
        #expect(cold == direct.filter { $0 == nil }.count)
        for (i, count) in histogram.enumerated() {
            #expect(count == direct.compactMap { $0 }.filter { $0 >= edges[i] && $0 < edges[i + 1] }.count, "bin \(i)")
        }
        // LRU, one request per expert, hits exactly the distances below its capacity.
        for capacity in [2, 5, 9, 17] {
            var lru = LRUPolicy(ids: 18)
            let hits = CacheSimulator.replay(CacheSimulator.requests(trace), ids: 18, capacity: capacity, policy: &lru).hits
            #expect(hits == direct.compactMap { $0 }.filter { $0 < capacity }.count, "C=\(capacity)")
        }
        let uses = TraceAnalysis.useCounts(trace)
        #expect(uses.joined().reduce(0, +) == trace.ids.count)
    }
}
