import ArgumentParser
import Foundation
import MoEFormats
import MoEModel

@main
struct MoE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe",
        abstract: "Run Mixture-of-Experts language models on the CPU.",
        discussion: """
        A model is a GGUF file (llama.cpp's format: F32/F16/BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, MXFP4,
        Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) or a Hugging Face folder with config.json, safetensors weights and
        tokenizer.json (or tokenizer.model). Architectures: Qwen3-MoE, Qwen2-MoE, Mixtral, OLMoE, DeepSeek-V2/V3
        (and Kimi-K2), GLM-4.5, ERNIE-4.5, gpt-oss.

        Examples:
          moe generate --prompt "In the beginning"            (the default model in Weights/)
          moe generate --model qwen3-30b-a3b-Q4_K_M.gguf --prompt "Hello" --temperature 0.7 --seed 1
          moe perplexity --model model.gguf --file valid.txt --json
          moe inspect model.gguf
          moe tokenize --model model.gguf --prompt "Hello world" --json
          moe chat --model model.gguf                          (the model's own chat template)
          moe template --template chat.jinja --context conversation.json
        """,
        subcommands: [Generate.self, Chat.self, Serve.self, Perplexity.self, Inspect.self, Tokenize.self, Template.self]
    )
}

/// Prints `moe: error: …` on stderr and exits 1: the one line a user sees for bad input.
func fail(_ error: Error) -> ExitCode {
    let message: String
    switch error {
    case let e as FormatError: message = e.description
    case let e as InferenceError: message = e.description
    case let e as CustomStringConvertible: message = e.description
    default: message = "\(error)"
    }
    FileHandle.standardError.write(Data("moe: error: \(message)\n".utf8))
    return ExitCode(1)
}

func printErr(_ s: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((s + terminator).utf8))
}

func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try enc.encode(value))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// The model `moe generate` runs with no --model: the default model shipped in Weights/.
enum DefaultModel {
    static let fileName = "tiny-qwen3moe-Q8_0.gguf"

    /// `$MOE_DEFAULT_MODEL`, else Weights/ in the current folder, else Weights/ beside the package the binary was built in.
    static func path() throws -> String {
        if let env = ProcessInfo.processInfo.environment["MOE_DEFAULT_MODEL"] { return env }
        var candidates = [FileManager.default.currentDirectoryPath + "/Weights/" + fileName]
        // .build/<config>/moe → package root is three levels up.
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Weights/" + fileName).path)
        candidates.append(exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Weights/" + fileName).path)
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw ValidationError("no --model given and the default model Weights/\(fileName) was not found (run from the repository root, or set MOE_DEFAULT_MODEL)")
    }
}

/// "1 token", "12 tokens".
func tokens(_ n: Int) -> String { n == 1 ? "1 token" : "\(n) tokens" }
