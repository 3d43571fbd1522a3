import Foundation

/// The llama.cpp peer: its binaries, built by Tools/scripts/build-llamacpp.sh outside the repository.
struct LlamaCpp {
    let bin: String

    /// `--llama-cpp DIR` if given, else `$LLAMA_CPP_BIN`, else the build script's cache folder.
    static func locate(_ given: String?) -> LlamaCpp? {
        var candidates: [String] = []
        if let given { candidates.append(given) }
        if let env = ProcessInfo.processInfo.environment["LLAMA_CPP_BIN"] { candidates.append(env) }
        let cache = ProcessInfo.processInfo.environment["SWIFTMOE_CACHE"] ?? (NSHomeDirectory() + "/.cache/swiftmoe")
        if let dirs = try? FileManager.default.contentsOfDirectory(atPath: cache) {
            candidates += dirs.filter { $0.hasPrefix("llama.cpp-") }.sorted().reversed().map { "\(cache)/\($0)/bin" }
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/llama-bench") }.map(LlamaCpp.init)
    }

    /// One llama-bench process: one repetition (`-r 1`, after llama-bench's own warm-up run) of a
    /// prefill test (pp: promptTokens tokens in one batch) and a decode test (tg: genTokens tokens),
    /// in a memory cgroup when `cap` says so. Throws only when it cannot be run at all.
    func bench(model: String, promptTokens: Int, genTokens: Int, threads: Int, repack: Bool?,
               cap: MemoryCap? = nil) throws -> Outcome {
        var args = [bin + "/llama-bench", "-m", model, "-p", "\(promptTokens)", "-n", "\(genTokens)",
                    "-t", "\(threads)", "-r", "1", "-o", "json"]
        if let repack { args += ["--repack", repack ? "1" : "0"] }
        let r = try ChildProcess.run(args, cap: cap)
        guard r.status == 0 else { return .failed(FailedRun("llama-bench", r)) }
        struct Entry: Decodable { let n_prompt: Int; let n_gen: Int; let avg_ts: Double }
        guard let json = r.stdout.firstIndex(of: "["),
              let entries = try? JSONDecoder().decode([Entry].self, from: Data(r.stdout[json...].utf8)) else {
            return .failed(FailedRun(badOutput: "llama-bench", r))
        }
        let pp = entries.first { $0.n_prompt > 0 && $0.n_gen == 0 }?.avg_ts ?? 0
        let tg = entries.first { $0.n_gen > 0 && $0.n_prompt == 0 }?.avg_ts ?? 0
        // llama-bench reports no time to first token: the prefill time of the same prompt stands for it,
        // as it does for SwiftMoE (both leave out the sampling of that token, microseconds).
        return .ran(EngineRun(loadSeconds: nil, prefillTokensPerSecond: pp, decodeTokensPerSecond: tg,
                              timeToFirstTokenSeconds: pp > 0 ? Double(promptTokens) / pp : .nan,
                              peakRSSBytes: r.peakRSSBytes, memory: r.memory))
    }
}
