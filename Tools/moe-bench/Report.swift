import Foundation

/// One engine's repetitions, summarised.
struct EngineReport: Encodable {
    let name: String
    let runs: [EngineRun]
    var decode: Summary { Summary(runs.map(\.decodeTokensPerSecond)) }
    var prefill: Summary { Summary(runs.map(\.prefillTokensPerSecond)) }
    var ttft: Summary { Summary(runs.map(\.timeToFirstTokenSeconds)) }
    var peakRSS: Summary { Summary(runs.map { Double($0.peakRSSBytes) }) }

    enum CodingKeys: String, CodingKey { case name, runs, decode_tps, prefill_tps, ttft_s, peak_rss_bytes }
    func encode(to e: Encoder) throws {
        var c = e.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(runs, forKey: .runs)
        try c.encode(decode, forKey: .decode_tps)
        try c.encode(prefill, forKey: .prefill_tps)
        try c.encode(ttft, forKey: .ttft_s)
        try c.encode(peakRSS, forKey: .peak_rss_bytes)
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

    /// A Markdown table (pastes into Docs/BENCHMARKS.md): medians with ±half-range, and each engine's
    /// median tokens/s relative to the first engine (SwiftMoE).
    func table() -> String {
        func f(_ s: Summary, _ digits: Int) -> String {
            String(format: "%.\(digits)f ±%.0f%%", s.median, s.spreadPercent)
        }
        var out = "model \((model as NSString).lastPathComponent), \(threads) threads, \(reps) reps, kernels: \(features)\n"
        out += "| engine | decode tok/s | prefill tok/s (\(promptTokens)) | TTFT s | peak RSS MiB | decode vs swiftmoe | prefill vs swiftmoe |\n"
        out += "|---|---|---|---|---|---|---|\n"
        let base = engines.first
        for e in engines {
            let dr = base.map { e.decode.median / $0.decode.median } ?? 1
            let pr = base.map { e.prefill.median / $0.prefill.median } ?? 1
            out += "| \(e.name) | \(f(e.decode, 1)) | \(f(e.prefill, 1)) | \(f(e.ttft, 3)) | "
            out += String(format: "%.0f", e.peakRSS.median / 1_048_576)
            out += String(format: " | %.2f× | %.2f× |\n", dr, pr)
        }
        return out
    }
}
