import Foundation

/// One engine's repetitions, summarised: medians over the runs that finished; failed and killed runs
/// are kept apart (and counted in the table).
struct EngineReport: Encodable {
    let name: String
    let runs: [EngineRun]
    let failures: [FailedRun]
    /// This comparison's disk bandwidth, MB/s (10^6 bytes/s), one stream and 8 in flight, for the disk
    /// bounds; nil without a disk test.
    let diskMBps: Double?
    let diskParallelMBps: Double?

    var decode: Summary { Summary(runs.map(\.decodeTokensPerSecond)) }
    var prefill: Summary { Summary(runs.map(\.prefillTokensPerSecond)) }
    var ttft: Summary { Summary(runs.map(\.timeToFirstTokenSeconds)) }
    var peakRSS: Summary { Summary(runs.map { Double($0.peakRSSBytes) }) }
    /// Every run's cgroup figures, finished or not; empty without a memory limit.
    var cgroups: [CgroupFigures] { runs.compactMap(\.memory) + failures.compactMap(\.memory) }
    var cgroupPeak: Summary? { cgroups.isEmpty ? nil : Summary(cgroups.compactMap { $0.peakBytes.map(Double.init) }) }
    var limitHits: Summary? { cgroups.isEmpty ? nil : Summary(cgroups.map { Double($0.failCount) }) }
    var killed: Int { failures.filter { $0.outcome == .killed }.count }
    var cache: CacheFigures? { CacheFigures(runs, decodeTokensPerSecond: decode.median, diskMBps: diskMBps, parallelMBps: diskParallelMBps) }

    enum CodingKeys: String, CodingKey {
        case name, runs, failures, decode_tps, prefill_tps, ttft_s, peak_rss_bytes, cgroup_peak_bytes, limit_hits, killed, cache
    }
    func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(runs, forKey: .runs)
        try c.encode(decode, forKey: .decode_tps)
        try c.encode(prefill, forKey: .prefill_tps)
        try c.encode(ttft, forKey: .ttft_s)
        try c.encode(peakRSS, forKey: .peak_rss_bytes)
        if !failures.isEmpty { try c.encode(failures, forKey: .failures) }
        try c.encodeIfPresent(cgroupPeak, forKey: .cgroup_peak_bytes)
        try c.encodeIfPresent(limitHits, forKey: .limit_hits)
        if !cgroups.isEmpty { try c.encode(killed, forKey: .killed) }
        try c.encodeIfPresent(cache, forKey: .cache)
    }
}

struct Report: Encodable {
    let model: String
    let promptTokens: Int
    let genTokens: Int
    let threads: Int
    let reps: Int
    let features: String
    let engines: [EngineReport]
    /// The memory cgroup limit of every engine run, bytes; nil without one.
    var memoryLimitBytes: Int? = nil
    /// SwiftMoE's memory budget, bytes; nil without one.
    var memoryBudgetBytes: Int? = nil
    /// SwiftMoE's forced routing; llama.cpp routes by its own router.
    var routingTrace: String? = nil
    var disk: DiskSummary? = nil

    /// A Markdown table (pastes into Docs/BENCHMARKS.md): medians with ±half-range, and each engine's
    /// median tokens/s relative to the first engine (SwiftMoE). Under a memory limit, three more columns
    /// (cgroup peak, limit hits, killed runs); with offloaded experts, a second table of the expert cache.
    func table() -> String {
        func f(_ s: Summary, _ digits: Int) -> String {
            String(format: "%.\(digits)f ±%.0f%%", s.median, s.spreadPercent)
        }
        func mib(_ bytes: Double) -> String { bytes > 0 ? String(format: "%.0f", bytes / 1_048_576) : "–" }
        let limited = memoryLimitBytes != nil
        var out = "model \((model as NSString).lastPathComponent), \(threads) threads, \(reps) reps, kernels: \(features)\n"
        out += offloadPreamble()
        let base = engines.first
        let vs = base?.name ?? "swiftmoe"
        out += "| engine | decode tok/s | prefill tok/s (\(promptTokens)) | TTFT s | peak RSS MiB | "
        out += limited ? "cgroup peak MiB | limit hits | killed | " : ""
        out += "decode vs \(vs) | prefill vs \(vs) |\n"
        out += "|---|---|---|---|---|" + (limited ? "---|---|---|" : "") + "---|---|\n"
        for e in engines {
            // Without a finished run: "killed" when any was OOM-killed, else "failed".
            let none = e.killed > 0 ? "killed" : "failed"
            let ok = !e.runs.isEmpty
            // Without a limit (no killed column) failed repetitions are counted beside the name.
            let note = !limited && !e.failures.isEmpty ? " (\(e.failures.count) of \(reps) \(none))" : ""
            out += "| \(e.name)\(note) | \(ok ? f(e.decode, 1) : none) | \(ok ? f(e.prefill, 1) : none) | \(ok ? f(e.ttft, 3) : "–") | "
            out += (ok ? mib(e.peakRSS.median) : "–") + " | "
            if limited {
                out += (e.cgroupPeak.map { mib($0.median) } ?? "–") + " | "
                out += (e.limitHits.map { String(format: "%.0f", $0.median) } ?? "–") + " | "
                let failed = e.failures.count - e.killed
                out += "\(e.killed)/\(e.runs.count + e.failures.count)" + (failed > 0 ? " (\(failed) failed)" : "") + " | "
            }
            func ratio(_ a: Double, _ b: Double?) -> String {
                guard let b, a.isFinite, b.isFinite, b > 0 else { return "–" }
                return String(format: "%.2f×", a / b)
            }
            out += "\(ratio(e.decode.median, base?.decode.median)) | \(ratio(e.prefill.median, base?.prefill.median)) |\n"
        }
        out += cacheTable()
        for e in engines {
            // Each distinct failure once, with how many repetitions it ended.
            let lines = e.failures.map { "\(e.name): \($0.outcome.rawValue): \($0.detail)" }
            let distinct = lines.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            for line in distinct {
                let n = lines.filter { $0 == line }.count
                out += line + (n > 1 ? " (\(n) runs)" : "") + "\n"
            }
        }
        return out
    }
}
