import ArgumentParser
import ChatTemplate
import Foundation
import MoEChat
import MoEKernels
import MoEModel
import ToolSupport

/// `moe-bench chat-reuse`: time to first token of a conversation's next turn with the prompt cache (the
/// history's KV rows reused) against a cold session given the same messages; the replies must be identical.
struct ChatReuseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-reuse",
        abstract: "Second-turn time to first token with the history's KV cache reused, against a cold run.",
        discussion: """
        Turn 1: a user message of about --history tokens of text (from --text, default ../shared/data/valid.txt)
        and a --reply-tokens reply. Turn 2: a short question. Warm: the same session goes on (the prompt cache
        reuses the history). Cold: a fresh session given turn 1's messages. Time to first token is the prompt's
        prefill and the first token's choice (rendering and tokenizing, a few ms, are the same in both and
        excluded). Greedy; the second replies must be token-for-token equal, else the run fails.

        Example:
          moe-bench chat-reuse --model models/olmoe-like-Q4_0.gguf --history 1000 --reps 3
        """)

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder.") var model: String
    @Option(help: "Tokens of the first user message (approximately).") var history = 1000
    @Option(help: "Tokens of the first reply.") var replyTokens = 16
    @Option(help: "Tokens of the second reply.") var secondTokens = 8
    @Option(help: "Repetitions (a fresh warm and cold session each).") var reps = 3
    @Option(help: "Text to take the first message from.") var text = "../shared/data/valid.txt"
    @Option(name: [.customShort("t"), .long], help: "Threads.") var threads = ThreadPool.physicalCores
    @Flag(help: "Print the result as JSON.") var json = false

    struct Result: Codable {
        let promptTokensTurn2: Int
        let reusedTokens: Int
        let coldTTFT: Summary
        let warmTTFT: Summary
        let ratio: Double
        let identical: Bool
    }

    func run() throws {
        do {
            let m = try Model(path: model)
            let prompt = try ChatPrompt.forModel(m, file: nil, fileFirst: false).prompt
            guard let data = FileManager.default.contents(atPath: text) else { throw ValidationError("cannot read --text \(text)") }
            // The first message: the text's first `history` tokens (the tokenizer decides where that ends).
            let ids = m.tokenizer.encode(String(decoding: data, as: UTF8.self), parseSpecial: false)
            let first = m.tokenizer.decode(Array(ids.prefix(history)))
            let context = history * 2 + replyTokens + secondTokens + 256
            var options = GenerationOptions(maxTokens: replyTokens, ignoreEOS: true, threads: threads, precision: .q8)
            var cold: [Double] = [], warm: [Double] = []
            var identical = true, promptTokens = 0, reused = 0
            for rep in 0 ..< reps {
                let w = ChatSession(model: m, prompt: prompt, contextLength: context, threads: threads, precision: .q8)
                options.maxTokens = replyTokens
                _ = try w.send(.user(first), options: options)
                options.maxTokens = secondTokens
                let warmTurn = try w.send(.user("Summarize that in one sentence."), options: options)
                let c = ChatSession(model: m, prompt: prompt, contextLength: context, threads: threads, precision: .q8)
                for message in w.messages.dropLast(2) { c.append(message) }
                let coldTurn = try c.send(.user("Summarize that in one sentence."), options: options)
                identical = identical && warmTurn.rawText == coldTurn.rawText && warmTurn.stats.generatedTokens == coldTurn.stats.generatedTokens
                warm.append(warmTurn.stats.promptSeconds)
                cold.append(coldTurn.stats.promptSeconds)
                promptTokens = warmTurn.stats.promptTokens
                reused = warmTurn.stats.reusedPromptTokens
                log(String(format: "rep %d: turn 2 of %d tokens (%d reused): cold %.3f s, warm %.3f s", rep + 1, promptTokens, reused,
                           coldTurn.stats.promptSeconds, warmTurn.stats.promptSeconds))
            }
            let result = Result(promptTokensTurn2: promptTokens, reusedTokens: reused, coldTTFT: Summary(cold), warmTTFT: Summary(warm),
                                ratio: Summary(warm).median / Summary(cold).median, identical: identical)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try enc.encode(result), as: UTF8.self))
            } else {
                print(String(format: "turn 2: %d prompt tokens, %d reused\ncold TTFT %.3f s (%.3f … %.3f)\nwarm TTFT %.3f s (%.3f … %.3f)\nwarm/cold %.3f; replies %@",
                             promptTokens, reused, result.coldTTFT.median, result.coldTTFT.min, result.coldTTFT.max,
                             result.warmTTFT.median, result.warmTTFT.min, result.warmTTFT.max, result.ratio,
                             identical ? "identical" : "DIFFERENT"))
            }
            if !identical { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }
}
