import Foundation
import MoEFormats
@testable import MoEStore
import Testing
import TestSupport

/// The expert cache against a file of known bytes: whatever is requested, prefetched or evicted, and with
/// several I/O threads, every pointer handed out shows exactly the expert's bytes from the file. Small and
/// fast, so that CI also runs it under the thread sanitizer (`.ci/run`).
@Suite struct ExpertCacheTests {
    /// A file of `layers × experts` experts whose three matrices have odd sizes at unaligned offsets.
    struct Fixture {
        let dir: TempDir
        let path: String
        let layout: ExpertLayout
        let bytes: [UInt8]

        init(layers: Int = 3, experts: Int = 8, k: Int = 2) throws {
            dir = try TempDir("expert-cache")
            path = dir.file("experts.bin")
            var parts: [ExpertLayout.Part] = []
            var offset = 37
            for id in 0 ..< layers * experts {
                for p in 0 ..< 3 {
                    let count = 3000 + 517 * p + 13 * id
                    parts.append(.init(file: 0, offset: offset, count: count, type: .q8_0, rows: 1, cols: 32))
                    offset += count + 11
                }
            }
            var rng = SystemRandomNumberGenerator()
            bytes = (0 ..< offset + 100).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            layout = ExpertLayout(layers: layers, experts: experts, expertsPerToken: k, files: [path], fileSizes: [bytes.count],
                                  isMoE: Array(repeating: true, count: layers), parts: parts)
        }

        func matches(_ id: Int, _ p: ExpertCache.Pointers) -> Bool {
            [p.gate, p.up, p.down].enumerated().allSatisfy { i, ptr in
                let part = layout.part(id, i)
                return memcmp(ptr, Array(bytes[part.offset ..< part.offset + part.count]), part.count) == 0
            }
        }
    }

    @Test(arguments: [(CachePolicyKind.lru, 4, .threads), (.lfu, 4, .threads), (.predictive, 4, .threads), (.predictive, nil, .threads),
                      (.lru, nil, .uring), (.predictive, nil, .uring)] as [(CachePolicyKind, Int?, ExpertCacheOptions.ReadMethod)])
    func everyPointerShowsTheFileBytes(policy: CachePolicyKind, ioThreads: Int?, reads: ExpertCacheOptions.ReadMethod) throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        let cache = try ExpertCache(layout: f.layout, capacity: 6, options: ExpertCacheOptions(policy: policy, ioThreads: ioThreads, reads: reads))
        // io_uring where this kernel allows it (else the cache falls back to threads, as it would in use).
        if reads == .threads { #expect(!cache.readsThroughUring) }
        defer { cache.shutdown() }
        var rng = SystemRandomNumberGenerator()
        func requests(_ n: Int) throws {
            for _ in 0 ..< n {
                let layer = Int.random(in: 0 ..< 3, using: &rng)
                let chosen = Array((0 ..< 8).shuffled(using: &rng).prefix(2)).sorted()
                let ticket = try cache.request(layer: layer, experts: chosen)
                cache.prefetch(layer: (layer + 1) % 3, experts: Array((0 ..< 8).shuffled(using: &rng).prefix(3)))
                let ready = try cache.wait(ticket)
                for (e, p) in zip(chosen, ready) { #expect(f.matches(f.layout.id(layer: layer, expert: e), p)) }
                cache.release(ticket)
                #expect(cache.residentCount <= cache.capacity)
            }
        }
        try requests(300)
        // io_uring: the arena is registered in the background once every slot was read into (reads before it are
        // plain); the rest read fixed.
        if cache.readsThroughUring {
            let deadline = ContinuousClock.now + .seconds(10)
            while !cache.readsRegistered, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.001) }
            #expect(cache.readsRegistered)
        }
        try requests(100)
        // Adapted reads in flight stay between the floor and the threads started; a fixed count stays fixed.
        let limit = cache.readsInFlightLimit
        if cache.readsThroughUring { #expect(limit == max(ExpertCacheOptions.uringDepth, 3 * f.layout.experts)) } else if let n = ioThreads { #expect(limit == n) } else {
            #expect((ExpertCacheOptions.minimumReadsInFlight ... ExpertCacheOptions.adaptiveIOThreads).contains(limit))
        }
        let t = cache.stats.total
        #expect(t.requests == 800)
        #expect(t.requests == t.hits + t.prefetchHits + t.latePrefetches + t.misses)
        #expect(t.bytesRead > 0)
    }

    @Test(arguments: [ExpertCacheOptions.ReadMethod.threads, .uring])
    func aTruncatedFileFailsTheRequestNotTheProcess(reads: ExpertCacheOptions.ReadMethod) throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        let cache = try ExpertCache(layout: f.layout, capacity: 4, options: ExpertCacheOptions(policy: .lru, ioThreads: 2, reads: reads))
        defer { cache.shutdown() }
        #expect(truncate(f.path, 100) == 0)
        do {
            let ticket = try cache.request(layer: 2, experts: [6, 7])
            _ = try cache.wait(ticket)
            Issue.record("read experts past the end of a truncated file")
        } catch let e as OffloadError {
            guard case .fileChanged = e else { Issue.record("\(e)"); return }
        }
        // The failure sticks: later requests fail too, clearly.
        #expect(throws: OffloadError.self) { _ = try cache.wait(cache.request(layer: 0, experts: [0])) }
    }

    @Test func compressedTierServesRepeatLoads() throws {
        let f = try Fixture()
        defer { f.dir.cleanup() }
        var options = ExpertCacheOptions(policy: .lru, ioThreads: 2)
        options.compressedTierBytes = 1 << 20
        let cache = try ExpertCache(layout: f.layout, capacity: 2, options: options)
        defer { cache.shutdown() }
        for round in 0 ..< 3 {
            for e in 0 ..< 8 {
                let ticket = try cache.request(layer: 0, experts: [e])
                let ready = try cache.wait(ticket)
                #expect(f.matches(f.layout.id(layer: 0, expert: e), ready[0]), "round \(round) expert \(e)")
                cache.release(ticket)
            }
        }
        let t = cache.stats.total
        #expect(t.bytesDecompressed > 0 && t.bytesDecompressed == 2 * t.bytesRead)
    }
}
