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
