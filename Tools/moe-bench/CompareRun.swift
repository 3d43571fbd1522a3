import Foundation
import MemLimit
import MoEKernels

/// What one repetition of one engine gave: a measurement, or a failed or killed run (which never ends
/// the comparison; only a failure to set a run up does, such as no memory cgroup).
enum Outcome {
    case ran(EngineRun)
    case failed(FailedRun)
}

extension Compare {
    struct Engine { let name: String; let measure: () throws -> Outcome }

    func compare() throws {
        guard FileManager.default.fileExists(atPath: model) else { throw BenchError.missing("\(model): no such file") }
        let cap = try offload.cap(model: model)
        if cap != nil, !MemoryLimit.available {
            throw BenchError.memoryLimit("no memory cgroup can be made, so no limited run is possible: \(MemoryLimit.unavailableReason)")
        }
        let engines = try makeEngines(cap: cap)

        let diskFile = offload.measuresDisk ? CompareOffloadOptions.diskTestFile(of: model) : nil
        let before = diskFile.flatMap { measureDisk($0, when: "before the first repetition") }

        var outcomes = [[Outcome]](repeating: [], count: engines.count)
        for rep in 0 ..< reps {
            for k in 0 ..< engines.count {
                let i = (rep + k) % engines.count
                log("rep \(rep + 1)/\(reps): \(engines[i].name) …")
                let o = try engines[i].measure()
                if case let .failed(f) = o { log("  \(f.outcome.rawValue): \(f.detail)") }
                outcomes[i].append(o)
            }
        }

        let after = diskFile.flatMap { measureDisk($0, when: "after the last repetition") }
        let disk = diskFile.map { _ in DiskSummary(before: before, after: after) }
        let reports = zip(engines, outcomes).map { e, os in
            EngineReport(name: e.name,
                         runs: os.compactMap { if case let .ran(r) = $0 { r } else { nil } },
                         failures: os.compactMap { if case let .failed(f) = $0 { f } else { nil } },
                         diskMBps: disk?.singleStreamMBps, diskParallelMBps: disk?.parallelMBps)
        }
        var report = Report(model: model, promptTokens: promptTokens, genTokens: genTokens, threads: threads,
                            reps: reps, features: Kernels.features, engines: reports)
        report.memoryLimitBytes = cap?.limitBytes
        report.memoryBudgetBytes = offload.offloading ? try offload.budgetBytes : nil
        report.routingTrace = offload.routingTrace
        report.disk = disk
        print(report.table())
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try enc.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }

    /// SwiftMoE once per cache policy (once, named "swiftmoe", when not offloading), each also with
    /// --repack and --no-repack if asked; then llama.cpp's variants unless it is left out.
    func makeEngines(cap: MemoryCap?) throws -> [Engine] {
        var engines: [Engine] = []
        for (name, extra) in try offload.variants {
            engines.append(Engine(name: name) { try measureSwiftMoE(extra: extra, cap: cap) })
            if repack { engines.append(Engine(name: name + " --repack") { try measureSwiftMoE(extra: ["--repack"] + extra, cap: cap) }) }
            if noRepack { engines.append(Engine(name: name + " --no-repack") { try measureSwiftMoE(extra: ["--no-repack"] + extra, cap: cap) }) }
        }
        guard llamaCpp != "none", !noLlamaCpp else { return engines }
        guard let peer = LlamaCpp.locate(llamaCpp) else {
            throw BenchError.missing("llama.cpp not found: run Tools/scripts/build-llamacpp.sh, pass --llama-cpp DIR, or --llama-cpp none")
        }
        for repack in llamaCppVariants.repackSettings {
            engines.append(Engine(name: repack ? "llama.cpp" : "llama.cpp --repack 0") {
                try peer.bench(model: model, promptTokens: promptTokens, genTokens: genTokens,
                               threads: threads, repack: repack, cap: cap)
            })
        }
        return engines
    }

    /// SwiftMoE in a child process (this executable's `engine` subcommand), so its RSS is measured alone;
    /// under a limit in its own cgroup, where the peak RSS is the one the engine reports itself.
    func measureSwiftMoE(extra: [String], cap: MemoryCap?) throws -> Outcome {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let r = try ChildProcess.run([exe, "engine", "--model", model, "--prompt-tokens", "\(promptTokens)",
                                      "--gen-tokens", "\(genTokens)", "--threads", "\(threads)"]
                                     + extra, cap: cap)
        guard r.status == 0 else { return .failed(FailedRun("moe-bench engine", r)) }
        guard var run = try? JSONDecoder().decode(EngineRun.self, from: Data(r.stdout.utf8)) else {
            return .failed(FailedRun(badOutput: "moe-bench engine", r))
        }
        if r.memory == nil { run.peakRSSBytes = r.peakRSSBytes }
        run.memory = r.memory
        return .ran(run)
    }

    /// The disk test, or nil (with a warning) when it cannot run: the comparison goes on without a disk bound.
    func measureDisk(_ file: String, when: String) -> DiskBandwidth? {
        log("disk test \(when) …")
        do { return try DiskTest.measure(file: file, bytes: offload.diskMib << 20) } catch {
            log("moe-bench: warning: \(error); no disk bound")
            return nil
        }
    }
}
