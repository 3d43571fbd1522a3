import Foundation
import MoEFormats

/// A repetition that produced no measurement: OOM-killed (by its cgroup, or SIGKILL without one) or failed.
struct FailedRun: Codable {
    enum Outcome: String, Codable { case killed, failed }
    let outcome: Outcome
    /// One line: the status and the child's last line on stderr, or what was wrong with its output.
    let detail: String
    /// Under a memory limit: what the cgroup saw.
    let memory: CgroupFigures?

    /// A child that exited non-zero or was killed.
    init(_ what: String, _ r: ChildResult) {
        outcome = r.killed ? .killed : .failed
        memory = r.memory
        if r.memory?.oomKilled == true {
            detail = "OOM-killed in its \(ByteSize.format(r.memory?.limitBytes ?? 0)) cgroup after \(String(format: "%.1f", r.seconds)) s"
        } else {
            detail = BenchError.childFailed(what, r.status, r.stderr).description
        }
    }

    /// A child that exited 0 but whose output could not be read.
    init(badOutput what: String, _ r: ChildResult) {
        outcome = .failed
        memory = r.memory
        detail = BenchError.badOutput(what, String(r.stdout.prefix(200))).description
    }
}

/// One engine's expert cache over the decode test (medians over its finished runs). Bytes are bytes,
/// bandwidths MB/s with MB = 10^6 bytes.
struct CacheFigures: Encodable {
    /// Ready-tier slots (experts held decoded in memory) and all experts of the model, from the budget plan.
    let slots: Int?
    let experts: Int?
    /// Bytes read from disk per decoded token.
    let bytesReadPerToken: Summary
    /// Tokens/s the disk alone would allow: single-stream disk MB/s × 10^6 ÷ median bytes read per token.
    let diskBoundTokensPerSecond: Double?
    /// Median decode tokens/s ÷ the disk bound.
    let achievedOfDiskBound: Double?
    /// The same bound from the 8-reads-in-flight bandwidth (the cache reads with several I/O threads, so
    /// the single-stream bound can be beaten).
    let diskBoundParallelTokensPerSecond: Double?
    /// Share of expert requests served without waiting (hits and timely prefetches), 0…1.
    let servedWithoutWaiting: Summary
    /// Share of expert requests that were plain hits, 0…1.
    let hitRate: Summary
    /// Seconds the compute thread waited for experts during the decode test.
    let stallSeconds: Summary
    /// The process's peak resident memory as the engine saw it at the end, bytes.
    let peakResidentBytes: Summary

    enum CodingKeys: String, CodingKey {
        case slots, experts, bytesReadPerToken = "bytes_read_per_token", diskBoundTokensPerSecond = "disk_bound_tps"
        case achievedOfDiskBound = "achieved_of_disk_bound", diskBoundParallelTokensPerSecond = "disk_bound_parallel_tps"
        case servedWithoutWaiting = "served_without_waiting"
        case hitRate = "hit_rate", stallSeconds = "stall_s", peakResidentBytes = "peak_resident_bytes"
    }

    /// nil when no run reported a cache.
    init?(_ runs: [EngineRun], decodeTokensPerSecond: Double, diskMBps: Double?, parallelMBps: Double?) {
        let reports = runs.compactMap(\.cache)
        guard let first = reports.first else { return nil }
        slots = first.plan?.slots
        experts = first.plan?.experts
        bytesReadPerToken = Summary(reports.map(\.bytesReadPerToken))
        let perToken = bytesReadPerToken.median
        if let diskMBps, perToken > 0 {
            let bound = diskMBps * 1e6 / perToken
            diskBoundTokensPerSecond = bound
            achievedOfDiskBound = decodeTokensPerSecond.isFinite ? decodeTokensPerSecond / bound : nil
        } else {
            diskBoundTokensPerSecond = nil
            achievedOfDiskBound = nil
        }
        diskBoundParallelTokensPerSecond = parallelMBps.flatMap { perToken > 0 ? $0 * 1e6 / perToken : nil }
        servedWithoutWaiting = Summary(reports.map(\.servedWithoutWaiting))
        hitRate = Summary(reports.map(\.hitRate))
        stallSeconds = Summary(reports.map(\.statistics.total.stallSeconds))
        peakResidentBytes = Summary(reports.map { Double($0.peakResidentBytes) })
    }
}

/// The disk tests of one comparison, before the first and after the last repetition.
struct DiskSummary: Encodable {
    let before: DiskBandwidth?
    let after: DiskBandwidth?
    /// Median of before and after, MB/s.
    var singleStreamMBps: Double? { median([before, after].compactMap { $0?.singleStreamMBps }) }
    var parallelMBps: Double? { median([before, after].compactMap { $0?.parallelMBps }) }

    private func median(_ xs: [Double]) -> Double? { xs.isEmpty ? nil : Summary(xs).median }

    enum CodingKeys: String, CodingKey { case before, after, single_stream_mbps, parallel_mbps }
    func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(before, forKey: .before)
        try c.encodeIfPresent(after, forKey: .after)
        try c.encodeIfPresent(singleStreamMBps, forKey: .single_stream_mbps)
        try c.encodeIfPresent(parallelMBps, forKey: .parallel_mbps)
    }
}

extension Report {
    /// Lines above the table: the limit, the budget, the routing and the disk; "" when none applies.
    func offloadPreamble() -> String {
        var out = ""
        if let l = memoryLimitBytes {
            out += "memory limit \(ByteSize.format(l)) per engine run (own memory cgroup, model file dropped from the page cache first)\n"
        }
        if let b = memoryBudgetBytes { out += "swiftmoe memory budget \(ByteSize.format(b))\n" }
        if let t = routingTrace {
            let peer = engines.contains { $0.name.hasPrefix("llama.cpp") }
            out += "routing: swiftmoe replays the trace \(t)" + (peer ? "; llama.cpp routes by its own router (its expert reads differ)\n" : "\n")
        }
        if let d = disk {
            func line(_ b: DiskBandwidth?) -> String { b?.text ?? "not measured" }
            out += "disk (4 MiB O_DIRECT reads at random offsets of the model file, MB = 10^6 bytes): before \(line(d.before)); after \(line(d.after))\n"
        }
        return out
    }

    /// The expert cache table (SwiftMoE engines that offload), "" when none does.
    func cacheTable() -> String {
        let rows = engines.compactMap { e in e.cache.map { (e, $0) } }
        guard !rows.isEmpty else { return "" }
        var out = "\nexpert cache over the decode test (medians; disk bound = single-stream disk MB/s ÷ MB read per token, "
        out += "beside it the bound at 8 reads in flight):\n"
        out += "| engine | cache slots | MB read / token | disk bound tok/s | decode ÷ bound | bound at 8 in flight | served without waiting | hit rate | stall s |\n"
        out += "|---|---|---|---|---|---|---|---|---|\n"
        for (e, c) in rows {
            let slots = c.slots.map { s in c.experts.map { "\(s) of \($0)" } ?? "\(s)" } ?? "–"
            let bound = c.diskBoundTokensPerSecond.map { String(format: "%.1f", $0) } ?? "–"
            let achieved = c.achievedOfDiskBound.map { String(format: "%.0f%%", $0 * 100) } ?? "–"
            let parallel = c.diskBoundParallelTokensPerSecond.map { String(format: "%.1f", $0) } ?? "–"
            out += "| \(e.name) | \(slots) | " + String(format: "%.1f", c.bytesReadPerToken.median / 1e6)
            out += " | \(bound) | \(achieved) | \(parallel) | " + String(format: "%.1f%% | %.1f%% | %.2f |\n",
                                                          c.servedWithoutWaiting.median * 100, c.hitRate.median * 100,
                                                          c.stallSeconds.median)
        }
        return out
    }
}
