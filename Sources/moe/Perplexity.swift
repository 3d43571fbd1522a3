import ArgumentParser
import Foundation
import MoEModel
import MoEStore
import ToolSupport

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure perplexity on a text file.",
        discussion: """
        The text is split into documents at <|endoftext|>; each is tokenized on its own and followed by the
        end-of-text id. The first --max-tokens ids are cut into windows of --window tokens; each window is
        run with no earlier context and scores the next-token prediction at every position, so every token
        but the first is scored once (the method of transformers' reference figures in ../shared).
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder.")
    var model: String

    @Option(name: .shortAndLong, help: "UTF-8 text file.")
    var file: String

    @Option(help: "Tokens per window.")
    var window: Int = 512

    @Option(help: "Use only the first N tokens (default: all).")
    var maxTokens: Int?

    @Option(help: "Tokens per forward call (default: the whole window at once; 1: one token at a time, as in decoding).")
    var batch: Int?

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup var compute: ComputeOptions
    @OptionGroup(title: "Memory budget and expert cache") var offload: OffloadOptions

    func validate() throws {
        guard window >= 2 else { throw ValidationError("--window must be ≥ 2") }
        if let n = maxTokens, n < 2 { throw ValidationError("--max-tokens must be ≥ 2") }
        if let b = batch, b < 1 { throw ValidationError("--batch must be ≥ 1") }
        if offload.routingTrace != nil { throw ValidationError("--routing-trace makes perplexity meaningless; use it with generate or moe-bench") }
    }

    struct Output: Encodable {
        let model: String
        let file: String
        let tokens: Int
        let result: PerplexityResult
        let cache: CacheReport?
    }

    func run() throws {
        do {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read text file \(file)")
            }
            let m = try Model(path: model, repack: compute.repackPolicy, offload: offload.settings())
            guard window <= m.config.maxPositions else {
                throw ValidationError("--window \(window) exceeds the model's context of \(m.config.maxPositions)")
            }
            let text = String(decoding: data, as: UTF8.self)
            var ids: [Int] = []
            let eos = m.config.eosTokenId ?? m.tokenizer.eosTokenId
            for doc in text.components(separatedBy: "<|endoftext|>") {
                ids += m.tokenizer.encodePrompt(doc)
                if let eos { ids.append(eos) }
                if let n = maxTokens, ids.count >= n { break }
            }
            if let n = maxTokens { ids = Array(ids.prefix(n)) }
            guard ids.count >= 2 else { throw ValidationError("\(file) has fewer than 2 tokens") }
            let showProgress = !json && isatty(2) != 0
            let result = try m.perplexity(tokens: ids, window: window, batch: batch, threads: compute.threadCount, precision: compute.activations) { done, total in
                if showProgress { printErr("\rwindow \(done)/\(total)", terminator: done == total ? "\n" : "") }
            }
            if json {
                try printJSON(Output(model: model, file: file, tokens: ids.count, result: result, cache: offload.report(m)))
            } else {
                print(String(format: "perplexity %.4f over %d scored tokens (%d windows of %d) in %.1f s, %.0f tokens/s",
                             result.perplexity, result.scoredTokens, result.windows, window, result.seconds,
                             Double(ids.count) / max(result.seconds, 1e-9)))
                if offload.cacheStats, let r = offload.report(m) { printErr(r.text()) }
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }
}
