import ArgumentParser
import Foundation
import MoEModel
import MoEStore
import ToolSupport

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt. The continuation streams to stdout; statistics go to stderr.",
        discussion: """
        Greedy by default (--temperature 0). With a temperature, --top-k, --top-p and --min-p narrow the
        choice, --repeat-penalty discourages recent tokens, and --seed makes the draw repeatable.
        Stops at end-of-text or after --max-tokens; --ignore-eos keeps going past end-of-text.
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder (default: Weights/\(DefaultModel.fileName)).")
    var model: String?

    @Option(name: .shortAndLong, help: "The prompt text. Read from stdin when omitted and stdin is not a terminal.")
    var prompt: String?

    @Option(name: [.customShort("n"), .long], help: "Most tokens to generate.")
    var maxTokens: Int = 128

    @OptionGroup(title: "Sampling") var sampling: SamplingArguments

    @OptionGroup var compute: ComputeOptions
    @OptionGroup(title: "Memory budget and expert cache") var offload: OffloadOptions

    @Flag(help: "Keep generating past the end-of-text token.")
    var ignoreEos = false

    @Flag(help: "Print one JSON object {text, token_ids, stats} instead of streaming text.")
    var json = false

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
    }

    struct Output: Encodable {
        let text: String
        let token_ids: [Int]
        let prompt_ids: [Int]
        let model: String
        let stats: GenerationStats
        let cache: CacheReport?
    }

    func run() throws {
        do {
            let path = try model ?? DefaultModel.path()
            var text = prompt
            if text == nil, isatty(0) == 0 {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            guard let text, !text.isEmpty else { throw ValidationError("give a prompt with --prompt TEXT (or on stdin)") }
            let m = try Model(path: path, repack: compute.repackPolicy, offload: offload.settings())
            let forced = try offload.forcedRouting(for: m)
            if forced != nil { printErr("routing forced from \(offload.routingTrace!): the text below is meaningless; the expert cache's work is real") }
            let promptIds = m.tokenizer.encodePrompt(text)
            guard maxTokens <= m.config.maxPositions - promptIds.count else {   // no overflow for a huge --max-tokens
                throw ValidationError("prompt (\(promptIds.count) tokens) + --max-tokens \(maxTokens) exceeds the model's context of \(m.config.maxPositions)")
            }
            var options = GenerationOptions(
                maxTokens: maxTokens,
                sampling: sampling.options,
                ignoreEOS: ignoreEos, threads: compute.threadCount, precision: compute.activations)
            options.forcedRouting = forced
            let stream = !json
            let result = try m.generate(promptIds: promptIds, options: options) { piece in
                if stream { FileHandle.standardOutput.write(Data(piece.utf8)) }
            }
            let s = result.stats
            if json {
                try printJSON(Output(text: result.text, token_ids: result.tokenIds, prompt_ids: promptIds, model: path, stats: s,
                                     cache: offload.report(m)))
            } else {
                FileHandle.standardOutput.write(Data("\n".utf8))
                printErr(String(format: "[%@] prompt %@, %.1f tok/s; generated %@%@; stop: %@",
                                (path as NSString).lastPathComponent, tokens(s.promptTokens), s.promptTokensPerSecond,
                                tokens(s.generatedTokens), s.decodeTokensPerSecond.map { String(format: ", %.1f tok/s", $0) } ?? "", s.stopReason))
                if offload.cacheStats, let r = offload.report(m) { printErr(r.text()) }
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }
}
