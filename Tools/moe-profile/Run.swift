import ArgumentParser
import Foundation
import Histogram
import MoEFormats
import MoEKernels
import MoEModel
import MoEStore
import ToolSupport

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model over a text with the real expert cache and profile it: per layer, per expert, stalls.",
        discussion: """
        The text is fed one token at a time (as in generation; documents split at <|endoftext|>, the KV cache
        emptied at each), through the expert cache that --memory-budget (or --cache-experts) and
        --cache-policy set up, exactly as `moe generate` runs. Recorded per layer and per expert: requests,
        hits, prefetch hits, late prefetches, misses, prefetches, wasted prefetches, bytes read and
        decompressed; per layer the time stalled, and every stall's length in a latency histogram
        (HdrHistogram: p50, p90, p99, max); tokens/s; the predictor's recall per layer (predictive policy).

        --trace-out writes the run's routing trace; `moe-profile simulate --trace` of it at this run's cache
        size replays the same requests (an LRU or LFU run's hit rate equals its simulation's). The SVG report
        places this run as a point beside LRU and Belady simulated on its own trace.
          moe-profile run -m olmoe-Q4_0.gguf --file valid.txt --max-tokens 256 --memory-budget 1.5GiB \\
            --cache-policy lru --routing-trace ../shared/traces/route-16x64-top8 --svg run.svg
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder.")
    var model: String
    @Option(name: .shortAndLong, help: "UTF-8 text file (documents separated by <|endoftext|>).")
    var file: String
    @Option(help: "Tokens to run.")
    var maxTokens = 512
    @Option(help: "Positions of the KV cache (a longer document continues in a fresh context).")
    var context = 2048
    @Option(name: [.customShort("t"), .long], help: "Threads of the forward pass (default: the physical cores).")
    var threads: Int?
    @Option(help: ArgumentHelp("Also write the run's routing trace here (.json: JSON; otherwise binary).", valueName: "path"))
    var traceOut: String?
    @OptionGroup(title: "Memory budget and expert cache") var offload: OffloadOptions
    @OptionGroup var report: ReportOptions

    func validate() throws {
        guard offload.enabled else { throw ValidationError("run profiles the expert cache: give --memory-budget or --cache-experts") }
        guard maxTokens >= 1, context >= 1 else { throw ValidationError("--max-tokens and --context must be ≥ 1") }
    }

    struct Stalls: Codable {
        var count: Int
        var totalSeconds: Double
        var p50: Double, p90: Double, p99: Double, max: Double
        /// The latency distribution: (percentile, seconds) at 10, 20, … 90, 95, 99, 99.9, 100.
        var distribution: [[Double]]
        enum CodingKeys: String, CodingKey {
            case count, totalSeconds = "total_seconds", p50 = "p50_seconds", p90 = "p90_seconds", p99 = "p99_seconds", max = "max_seconds"
            case distribution = "percentile_seconds"
        }
    }

    struct Output: Codable {
        var model: String
        var file: String
        var tokens: Int
        var seconds: Double
        var tokensPerSecond: Double
        var cache: CacheReport
        var capacity: Int
        var experts: Int
        /// Per expert (`[layers][experts]` of the cache's layers): the cache's counts.
        var perExpert: [[CacheStatistics.Layer]]
        var stalls: Stalls
        var figures: ProfileFigures
        enum CodingKeys: String, CodingKey {
            case model, file, tokens, seconds, tokensPerSecond = "tokens_per_second", cache, capacity, experts
            case perExpert = "per_expert", stalls, figures
        }
    }

    func run() throws {
        try reportingErrors {
            let m = try Model(path: model, offload: offload.settings())
            let docs = try documents(of: file, model: m, maxTokens: maxTokens)
            let state = InferenceState(config: m.config, contextLength: min(context, m.config.maxPositions), maxBatch: 1, logitRows: 1,
                                       threads: threads ?? ThreadPool.physicalCores, precision: .q8)
            state.forcedRouting = try offload.forcedRouting(for: m)
            let interactive = !report.json && !report.csv && isatty(2) != 0
            // Each step computes the next token's logits, as generation does, so that tokens/s is generation's.
            let t0 = ContinuousClock.now
            let trace = try m.recordRouting(documents: docs, state: state, logits: .last) { done, total in
                if interactive { printErr("\rtoken \(done)/\(total)", terminator: done == total ? "\r" : "") }
            }
            let seconds = (ContinuousClock.now - t0).seconds
            let total = trace.tokens
            guard let offload = m.offload, let cache = offload.existingCache else { throw ValidationError("no expert cache was made") }
            if let traceOut { try trace.write(to: traceOut) }
            let layout = offload.layout
            let stats = cache.statsPerExpert
            let perExpert = (0 ..< layout.layers).map { l in Array(stats[l * layout.experts ..< (l + 1) * layout.experts]) }
            let out = Output(model: model, file: file, tokens: total, seconds: seconds, tokensPerSecond: Double(total) / seconds,
                             cache: CacheReport(offload: offload), capacity: cache.capacity, experts: layout.ids,
                             perExpert: perExpert, stalls: Self.stalls(cache.stallDurations),
                             figures: try Self.figures(trace: trace, model: m, name: URL(fileURLWithPath: model).lastPathComponent, cache: cache))
            if report.json { try printJSON(out) } else if report.csv { print(Self.csv(out), terminator: "") } else { print(Self.table(out)) }
            try report.writeSVG(out.figures)
        }
    }

    /// Stall lengths summarised through an HdrHistogram of microseconds (3 significant digits).
    static func stalls(_ seconds: [Double]) -> Stalls {
        var h = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for s in seconds { _ = h.record(UInt64(max(0, s * 1e6).rounded())) }
        func at(_ p: Double) -> Double { seconds.isEmpty ? 0 : Double(h.valueAtPercentile(p)) / 1e6 }
        let percentiles: [Double] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9, 100]
        return Stalls(count: seconds.count, totalSeconds: seconds.reduce(0, +), p50: at(50), p90: at(90), p99: at(99),
                      max: seconds.isEmpty ? 0 : Double(h.max) / 1e6, distribution: percentiles.map { [$0, at($0)] })
    }

    static func figures(trace: RoutingTrace, model: Model, name: String, cache: ExpertCache) throws -> ProfileFigures {
        let stats = cache.stats
        let moe = (0 ..< model.config.layerCount).filter(model.config.isMoELayer)
        let total = trace.layers * trace.experts
        // This run's own trace, simulated at a few sizes with LRU and Belady, for the run to sit among.
        var rows: [Simulate.Row] = []
        let sizes = Set([0.125, 0.25, 0.5, 0.75].map { Int($0 * Double(total)) } + [cache.capacity]).filter { $0 >= trace.k && $0 <= total }.sorted()
        for capacity in sizes {
            for p in [SimulatedPolicy.lru, .belady] {
                let s = try CacheSimulator.simulate(trace, policy: p, capacity: capacity)
                rows.append(.init(budget: String(capacity), share: Double(capacity) / Double(total), simulation: s, bytesReadPerToken: nil))
            }
        }
        var f = Simulate.figures(trace: trace, path: "live run", rows: rows, perLayer: false)
        f.title = "\(name) · \(cache.options.policy.rawValue) · \(cache.capacity) of \(total) experts · \(trace.tokens.formatted()) tokens"
        f.subtitle = ["live run: \(pct(stats.servedWithoutWaitingShare)) served without waiting, \(pct(stats.hitRate)) hits; " +
                      "curves: this run's routing simulated with LRU and Belady"]
        f.livePoints = [.init(policy: cache.options.policy.rawValue, budget: Double(cache.capacity) / Double(total), hitRate: stats.servedWithoutWaitingShare)]
        let per = cache.statsPerExpert
        f.useCounts = moe.map { l in (0 ..< trace.experts).map { per[l * trace.experts + $0].requests } }
        f.stallSecondsPerLayer = moe.map { stats.layers[$0].stallSeconds }
        f.hitRatePerLayer = moe.map { Double(stats.layers[$0].servedWithoutWaiting) / Double(max(1, stats.layers[$0].requests)) }
        if let recall = cache.predictor?.recallPerLayer { f.recallPerLayer = moe.map { recall[$0] ?? .nan } }
        return f
    }

    static func table(_ o: Output) -> String {
        var lines = [String(format: "%d tokens in %.1f s: %.2f tokens/s", o.tokens, o.seconds, o.tokensPerSecond), o.cache.text()]
        let s = o.stalls
        lines.append(String(format: "stalls: %d waits, %.2f s in all; p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
                            s.count, s.totalSeconds, s.p50 * 1e3, s.p90 * 1e3, s.p99 * 1e3, s.max * 1e3))
        if s.count > 0 {
            lines.append("stall latency (HdrHistogram, µs resolution): " + s.distribution.map { String(format: "p%g %.2f ms", $0[0], $0[1] * 1e3) }
                .joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// One row per (layer, expert) with requests.
    static func csv(_ o: Output) -> String {
        var out = csvLine(["layer", "expert", "requests", "hits", "prefetch_hits", "late_prefetches", "misses", "prefetches",
                           "wasted_prefetches", "evictions", "bytes_read", "bytes_decompressed"]) + "\n"
        for (l, row) in o.perExpert.enumerated() {
            for (e, s) in row.enumerated() where s.requests > 0 || s.prefetches > 0 {
                out += csvLine([l, e, s.requests, s.hits, s.prefetchHits, s.latePrefetches, s.misses, s.prefetches, s.wastedPrefetches,
                                s.evictions, s.bytesRead, s.bytesDecompressed].map(String.init)) + "\n"
            }
        }
        return out
    }
}
