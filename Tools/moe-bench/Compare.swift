import ArgumentParser
import Foundation
import MoEKernels

/// `moe-bench compare`: SwiftMoE and llama.cpp on one file, alternating, each repetition a fresh process.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "SwiftMoE against llama.cpp on the same GGUF file: tokens/s, time to first token, peak RSS.",
        discussion: """
        Each repetition runs every engine once, in a rotating order (so slow drift
        of a shared machine does not favour one engine), each in a fresh process
        whose peak RSS is read with wait4. Engines: swiftmoe; llama.cpp (its
        defaults: weights repacked for its kernels); llama.cpp --repack 0. Both are
        measured the llama-bench way: random prompt tokens, one warm-up pass,
        prefill = one batch of --prompt-tokens tokens, decode = --gen-tokens
        single-token steps from an empty context.

        The offload benchmark, a model larger than the memory it may use:
          moe-bench compare --model models/olmoe-like-Q4_0.gguf \\
            --memory-limit 1.5GiB -p 16 -n 32 --reps 3 \\
            --routing-trace ../shared/traces/route-16x64-top8 \\
            --cache-policies lru,lfu,predictive
        --memory-limit puts every engine run (swiftmoe and llama.cpp alike) in its
        own memory cgroup of that size, after dropping the model file from the
        page cache, so page cache counts against the limit as anonymous memory
        does. SwiftMoE keeps its experts on disk behind its expert cache, sized by
        --memory-budget (default: the limit); one swiftmoe engine runs per
        --cache-policies entry. llama.cpp --repack 0 pages its memory-mapped
        weights in and out; llama.cpp's default repacks them into anonymous
        memory and is OOM-killed: such a run shows as "killed", itself a result.
        --routing-trace makes every swiftmoe run route by one recorded trace, so
        the policies serve the same expert requests; llama.cpp routes by its own
        router.

        Reported besides tokens/s: each run's cgroup peak (bytes charged to it,
        page cache included), limit hits (reclaims, not failures) and kills; for
        swiftmoe, over the decode test: MB read from disk per token; the disk
        bound, tokens/s the disk allows = single-stream disk MB/s ÷ MB per token
        (the disk measured with O_DIRECT before the first and after the last
        repetition, as `moe-bench disk` does; also the bound at 8 reads in
        flight, since the cache reads with several threads); decode ÷ bound; the
        share of expert requests served without waiting; hit rate; stall seconds.
        MB = 10^6 bytes, MiB = 2^20 bytes.
        """)

    @Option(name: .shortAndLong, help: "GGUF file (llama.cpp needs GGUF; a folder runs SwiftMoE alone).") var model: String
    @Option(name: [.customShort("p"), .long], help: "Prompt tokens of the prefill test.") var promptTokens = 512
    @Option(name: [.customShort("n"), .long], help: "Tokens of the decode test.") var genTokens = 128
    @Option(name: .shortAndLong, help: "Repetitions (fresh processes) per engine.") var reps = 5
    @Option(name: .shortAndLong, help: "Threads, for every engine (default: physical cores).") var threads = ThreadPool.physicalCores
    @Option(help: "llama.cpp bin folder, or 'none' to measure SwiftMoE alone (default: the build script's cache).")
    var llamaCpp: String?
    @Flag(help: "Measure SwiftMoE alone (as --llama-cpp none).") var noLlamaCpp = false
    @Option(help: "llama.cpp engines: default (its repacking), norepack (--repack 0) or both.") var llamaCppVariants: LlamaVariants = .both
    @Option(help: "Also write the results as JSON to this file.") var json: String?
    @Flag(help: "Also run SwiftMoE with --repack (Q4_0 rows repacked for decode: a second copy of them in memory).")
    var repack = false
    @Flag(name: .customLong("no-repack"), help: "Also run SwiftMoE with --no-repack (row-major weights only: what the repacked layouts gain).")
    var noRepack = false
    @OptionGroup(title: "Memory limit and expert cache (the offload benchmark)") var offload: CompareOffloadOptions

    func validate() throws {
        guard reps >= 1 else { throw ValidationError("--reps must be ≥ 1") }
        guard promptTokens >= 1, genTokens >= 1 else { throw ValidationError("--prompt-tokens and --gen-tokens must be ≥ 1") }
        guard threads >= 1, threads <= ThreadPool.maxThreads else {
            throw ValidationError("--threads must be between 1 and \(ThreadPool.maxThreads)")
        }
    }

    func run() throws {
        do { try compare() } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }
}
