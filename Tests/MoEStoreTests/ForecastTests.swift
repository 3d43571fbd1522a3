import Foundation
import MoEFormats
@testable import MoEStore
import Testing
import TestSupport

/// The predictive policy's parts: its eviction order (`ForecastPolicy`), the bytes its guesses may take
/// (`GuessWindow`, `prefetch(window:precision:)`), and guesses reading only while no request waits.
@Suite struct ForecastTests {
    /// Without a forecast's weight, the order is LFU's (undecayed: both count whole requests).
    @Test func weightZeroEvictsAsLFU() {
        let (layers, experts, capacity) = (4, 8, 9)
        var lfu = LFUPolicy(ids: layers * experts, decay: 1)
        var forecast = ForecastPolicy(layers: layers, experts: experts, k: 2, weight: 0, decay: 1)
        var state: UInt64 = 7
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) % n }
        var residentL = Set<Int>(), residentF = Set<Int>()
        for time in 0 ..< 3000 {
            let id = next(layers) * experts + min(next(experts), next(experts))   // skewed toward low experts
            if time % 50 == 0 { forecast.forecast(layer: next(layers), probabilities: (0 ..< experts).map { _ in Float(next(100)) / 50 }) }
            for (resident, isLFU) in [(residentL, true), (residentF, false)] {
                var r = resident
                if r.contains(id) {
                    if isLFU { lfu.used(id, at: time) } else { forecast.used(id, at: time) }
                } else {
                    if r.count == capacity {
                        let v = isLFU ? lfu.victim(excluding: { _ in false })! : forecast.victim(excluding: { _ in false })!
                        r.remove(v)
                        if isLFU { lfu.removed(v) } else { forecast.removed(v) }
                    }
                    r.insert(id)
                    if isLFU { lfu.inserted(id, at: time) } else { forecast.inserted(id, at: time) }
                }
                if isLFU { residentL = r } else { residentF = r }
            }
            #expect(residentL == residentF)
        }
    }

    /// Two residents of equal counts: the one the forecast names likelier stays; excluded ones are never chosen.
    @Test func theForecastKeepsWhatTheNextTurnNeeds() {
        var p = ForecastPolicy(layers: 2, experts: 4, k: 2, weight: 0.5, decay: 1)
        p.inserted(1, at: 0)   // layer 0, expert 1
        p.inserted(6, at: 1)   // layer 1, expert 2
        #expect(p.victim(excluding: { _ in false }) == 1)   // equal counts: the least recent
        p.forecast(layer: 0, probabilities: [0, 1.5, 0.5, 0])
        p.forecast(layer: 1, probabilities: [1, 0.5, 0.2, 0.3])
        #expect(p.victim(excluding: { _ in false }) == 6)
        #expect(p.victim(excluding: { $0 == 6 }) == 1)
        p.removed(6)
        p.removed(1)
        #expect(p.victim(excluding: { _ in false }) == nil)
    }

    @Test func guessWindowMeasuresTheDiskAndTheCompute() {
        var w = GuessWindow()
        #expect(w.bytes(layers: 1) == nil)
        w.stalled(bytes: 2_000_000, seconds: 0.002)   // 1 GB/s
        #expect(w.bytes(layers: 1) == nil)            // no compute timed yet
        let t0 = ContinuousClock.now
        w.ready(at: t0)
        w.requested(at: t0 + .milliseconds(3))
        w.ready(at: t0 + .milliseconds(4))
        w.requested(at: t0 + .milliseconds(5))         // 3 ms and 1 ms of compute
        w.ready(at: t0 + .milliseconds(6))
        w.requested(at: t0 + .seconds(2))              // a pause between prompts, not a layer's compute
        #expect(abs(w.diskRate! - 1e9) < 1)
        let compute = (0.95 * 0.003 + 0.001) / 1.95
        #expect(abs(w.computeSeconds! - compute) < 1e-9)
        #expect(abs(w.bytes(layers: 2)! - 2 * 1e9 * compute) < 1)
    }

    /// A guess is loaded while the window left before it exceeds the share of its bytes an unused guess costs.
    @Test func prefetchSpendsTheWindow() throws {
        let f = try ExpertCacheTests.Fixture(layers: 2, experts: 8, k: 2)
        defer { f.dir.cleanup() }
        let size = Double(f.layout.bytes(of: f.layout.id(layer: 1, expert: 0)))
        func loaded(window: Double?, precision: Double) -> Int {
            let cache = ExpertCache(simulating: f.layout, capacity: 16, options: ExpertCacheOptions(policy: .lfu))
            _ = cache.prefetch(layer: 1, experts: [0, 1, 2, 3, 4], window: window, precision: precision)
            return (0 ..< 5).filter { cache.holds(layer: 1, expert: $0) }.count
        }
        // The fixture's experts grow by 39 bytes an id: 2.5 sizes hold two and a half of them.
        #expect(loaded(window: nil, precision: 0) == 5)
        #expect(loaded(window: 2.5 * size, precision: 1) == 3)
        #expect(loaded(window: 2.5 * size, precision: 0.5) == 2)
        #expect(loaded(window: 0.9 * size, precision: 0) == 0)
    }

    /// Through io_uring, on a disk that reads an expert slower than a layer computes, a guess queued while a
    /// request's reads are outstanding stays queued (it would delay them) until that request's experts are ready;
    /// on a disk that reads one within a layer's compute it reads at once.
    @Test(arguments: [(1e6, true), (1e12, false)])
    func guessesReadAfterTheWaitingRequest(bytesPerSecond: Double, heldBack: Bool) throws {
        let f = try ExpertCacheTests.Fixture()
        defer { f.dir.cleanup() }
        let cache = try ExpertCache(layout: f.layout, capacity: 8, options: ExpertCacheOptions(policy: .lfu, reads: .uring))
        defer { cache.shutdown() }
        try #require(cache.readsThroughUring, "io_uring unavailable here")
        cache.measure(bytesPerSecond: bytesPerSecond, computeSeconds: 0.001)   // window: 1 kB or 1 GB; experts ≈ 10 kB
        let ticket = try cache.request(layer: 0, experts: [0, 1])
        cache.prefetch(layer: 1, experts: [2])
        #expect(cache.guessReadsQueued == (heldBack ? 3 : 0))   // the guess's three reads, held back or in the ring
        let ready = try cache.wait(ticket)
        #expect(cache.guessReadsQueued == 0)   // in the ring
        for (e, p) in zip([0, 1], ready) { #expect(f.matches(f.layout.id(layer: 0, expert: e), p)) }
        cache.release(ticket)
        let guessed = try cache.request(layer: 1, experts: [2])
        #expect(f.matches(f.layout.id(layer: 1, expert: 2), try cache.wait(guessed)[0]))
        cache.release(guessed)
        #expect(cache.stats.total.prefetchHits + cache.stats.total.latePrefetches == 1)
    }
}

/// On the reference routing (a trained model's), the predictive policy's cache, forecasts and guesses beat the
/// best plain policy in the same simulation: more hits and more served from memory.
@Suite(.enabled(if: SharedData.root != nil, "../shared (the routing traces) is absent"))
struct ForecastOnRealRoutingTests {
    @Test(arguments: [("models/tiny-qwen3moe", 64), ("traces/route-16x64-top8", 392)])
    func predictiveBeatsLFU(trace name: String, capacity: Int) throws {
        let trace = try RoutingTrace(sharedTrace: SharedData.root! + "/" + name)
        let range = 0 ..< min(trace.tokens, 4000)
        let lfu = try CacheSimulator.simulate(trace, policy: .lfu, capacity: capacity, range: range)
        let predictive = try CacheSimulator.simulate(trace, policy: .predictive, capacity: capacity, range: range)
        print("\(name) C=\(capacity), \(range.count) tokens: LFU \(lfu.hitRate), predictive hits \(predictive.hitRate) " +
              "served \(predictive.servedWithoutWaiting)")
        #expect(predictive.hitRate > lfu.hitRate)
        #expect(predictive.servedWithoutWaiting > lfu.servedWithoutWaiting)
    }
}
