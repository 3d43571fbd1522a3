import ArgumentParser
import Foundation
import MoEKernels

/// `moe-bench compare`: SwiftMoE and llama.cpp on one file, alternating, each repetition a fresh process.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SwiftMoE against llama.cpp on the same GGUF file: tokens/s, time to first token, peak RSS.",
        discussion: """
        Each repetition runs every engine once, in a rotating order (so slow drift of a shared machine
        does not favour one engine), each in a fresh process whose peak RSS is read with wait4.
        Engines: swiftmoe; llama.cpp (its defaults: weights repacked for its kernels); llama.cpp --repack 0.
        Both are measured the llama-bench way: random prompt tokens, one warm-up pass, prefill = one batch
        of --prompt-tokens tokens, decode = --gen-tokens single-token steps from an empty context.
        """)

    @Option(name: .shortAndLong, help: "GGUF file (llama.cpp needs GGUF; a folder runs SwiftMoE alone).") var model: String
    @Option(name: [.customShort("p"), .long], help: "Prompt tokens of the prefill test.") var promptTokens = 512
    @Option(name: [.customShort("n"), .long], help: "Tokens of the decode test.") var genTokens = 128
    @Option(name: .shortAndLong, help: "Repetitions (fresh processes) per engine.") var reps = 5
    @Option(name: .shortAndLong, help: "Threads, for every engine (default: physical cores).") var threads = ThreadPool.physicalCores
    @Option(help: "llama.cpp bin folder, or 'none' to measure SwiftMoE alone (default: the build script's cache).")
    var llamaCpp: String?
    @Option(help: "Also write the results as JSON to this file.") var json: String?
    @Flag(help: "Also run SwiftMoE with --repack (Q4_0 rows repacked for decode: a second copy of them in memory).")
    var repack = false

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be ≥ 1") }
        guard promptTokens >= 1, genTokens >= 1 else { throw ValidationError("--prompt-tokens and --gen-tokens must be ≥ 1") }
        guard threads >= 1, threads <= ThreadPool.maxThreads else {
            throw ValidationError("--threads must be between 1 and \(ThreadPool.maxThreads)")
        }
    }

    struct Engine { let name: String; let measure: () throws -> EngineRun }

    func run() throws {
        do {
            guard FileManager.default.fileExists(atPath: model) else { throw BenchError.missing("\(model): no such file") }
            var engines = [Engine(name: "swiftmoe") { try measureSwiftMoE(repack: false) }]
            if repack { engines.append(Engine(name: "swiftmoe --repack") { try measureSwiftMoE(repack: true) }) }
            if llamaCpp != "none" {
                guard let peer = LlamaCpp.locate(llamaCpp) else {
                    throw BenchError.missing("llama.cpp not found: run Tools/scripts/build-llamacpp.sh, pass --llama-cpp DIR, or --llama-cpp none")
                }
                for repack in [true, false] {
                    engines.append(Engine(name: repack ? "llama.cpp" : "llama.cpp --repack 0") {
                        try peer.bench(model: model, promptTokens: promptTokens, genTokens: genTokens,
                                       threads: threads, repack: repack)
                    })
                }
            }
            var runs = [[EngineRun]](repeating: [], count: engines.count)
            for rep in 0 ..< reps {
                for k in 0 ..< engines.count {
                    let i = (rep + k) % engines.count
                    log("rep \(rep + 1)/\(reps): \(engines[i].name) …")
                    runs[i].append(try engines[i].measure())
                }
            }
            let report = Report(model: model, promptTokens: promptTokens, genTokens: genTokens, threads: threads,
                                reps: reps, features: Kernels.features,
                                engines: zip(engines, runs).map { EngineReport(name: $0.name, runs: $1) })
            print(report.table())
            if let json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .prettyPrinted]
                enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
                try enc.encode(report).write(to: URL(fileURLWithPath: json))
            }
        } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    /// SwiftMoE in a child process (this executable's `engine` subcommand), so its RSS is measured alone.
    func measureSwiftMoE(repack: Bool) throws -> EngineRun {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let r = try ChildProcess.run([exe, "engine", "--model", model, "--prompt-tokens", "\(promptTokens)",
                                      "--gen-tokens", "\(genTokens)", "--threads", "\(threads)"] + (repack ? ["--repack"] : []))
        guard r.status == 0 else { throw BenchError.childFailed("moe-bench engine", r.status, r.stderr) }
        guard var run = try? JSONDecoder().decode(EngineRun.self, from: Data(r.stdout.utf8)) else {
            throw BenchError.badOutput("moe-bench engine", String(r.stdout.prefix(200)))
        }
        run.peakRSSBytes = r.peakRSSBytes
        return run
    }
}
