import ArgumentParser
import Foundation
import MoEKernels

@main
struct MoEBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe-bench",
        abstract: "Benchmarks of SwiftMoE, side by side with llama.cpp on the same file in the same run.",
        discussion: """
        compare: decode and prefill tokens/s, time to first token and peak resident memory of SwiftMoE and
        of llama.cpp (with its defaults and with --repack 0), alternating engines, several repetitions;
        medians and spread. llama.cpp is built by Tools/scripts/build-llamacpp.sh (outside the repository).

        Examples:
          moe-bench compare --model /work/models/olmoe-like-Q4_0.gguf --reps 5 --json bench.json
          moe-bench compare --model Weights/tiny-qwen3moe-Q8_0.gguf --llama-cpp none
        """,
        subcommands: [Compare.self, KernelsCommand.self, EngineCommand.self],
        defaultSubcommand: Compare.self
    )
}

/// Prints `moe-bench: error: …` and exits 1.
func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("moe-bench: error: \(error)\n".utf8))
    return ExitCode(1)
}

func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
