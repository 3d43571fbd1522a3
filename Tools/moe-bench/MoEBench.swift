import ArgumentParser
import Foundation
import MoEKernels

@main
struct MoEBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe-bench",
        abstract: "Benchmarks of SwiftMoE, side by side with llama.cpp on the same file in the same run.",
        discussion: """
        compare: decode and prefill tokens/s, time to first token and peak
        resident memory of SwiftMoE and of llama.cpp (with its defaults and with
        --repack 0), alternating engines, several repetitions; medians and
        spread. llama.cpp is built by Tools/scripts/build-llamacpp.sh (outside the
        repository). With --memory-limit, every run in its own memory cgroup and
        SwiftMoE's experts on disk: the offload benchmark (see compare --help).
        disk: the disk's random-read bandwidth (O_DIRECT), which bounds decoding
        with experts on disk.

        Examples:
          moe-bench compare --model models/olmoe-like-Q4_0.gguf --reps 5 \\
            --json bench.json
          moe-bench compare --model Weights/tiny-qwen3moe-Q8_0.gguf --llama-cpp none
          moe-bench compare --model models/olmoe-like-Q4_0.gguf \\
            --memory-limit 1.5GiB -p 16 -n 32 --reps 3 \\
            --routing-trace ../shared/traces/route-16x64-top8 \\
            --cache-policies lru,lfu,predictive
          moe-bench disk --file models/olmoe-like-Q4_0.gguf
        """,
        subcommands: [Compare.self, KernelsCommand.self, DiskCommand.self, EngineCommand.self, ChatReuseCommand.self, ServeBench.self],
        defaultSubcommand: Compare.self
    )
}

/// Prints `moe-bench: error: …` and exits 1.
func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("moe-bench: error: \(error)\n".utf8))
    return ExitCode(1)
}

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
