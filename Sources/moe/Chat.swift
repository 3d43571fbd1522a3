import ArgumentParser
import ChatParsing
import ChatTemplate
import Foundation
import MoEFormats
import MoEChat
import MoEModel
import MoEStore
import ToolSupport

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a model through its own chat template: interactively, or one message with --message.",
        discussion: """
        The template is the model's (GGUF tokenizer.chat_template, or the Hugging Face folder's
        chat_template.jinja / tokenizer_config.json), else --template FILE, else ChatML with a notice.
        Replies stream as they are generated; a thinking model's reasoning is shown dimmed before the answer,
        tool calls as JSON. Each turn reuses the KV cache of the conversation so far: only the new message
        is computed (the statistics line says how many prompt tokens were reused).

        In the chat: /clear starts over, /save FILE writes the conversation as JSON, /exit (or Ctrl-D) quits;
        Ctrl-C stops the current answer. Line editing and history (↑/↓) come from libedit when present.

        Examples:
          moe chat --model Qwen3-30B-A3B-Q4_K_M.gguf --system "You are terse."
          moe chat --model gpt-oss-20b-mxfp4.gguf --message "Why is the sky blue?" --json
          moe chat --model model.gguf --no-think --memory-budget 8GiB
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder (default: Weights/\(DefaultModel.fileName)).")
    var model: String?

    @Option(help: "A system message that starts the conversation.")
    var system: String?

    @Option(help: "A Jinja chat template file, used when the model carries none (or to replace its own with --force-template).")
    var template: String?

    @Flag(help: "Use --template even when the model carries a template.")
    var forceTemplate = false

    @Flag(help: "Ask a thinking model not to think (the template's enable_thinking = false).")
    var noThink = false

    @Option(help: "A JSON file with OpenAI-style tool definitions ([{\"type\": \"function\", \"function\": {…}}]) for the template.")
    var tools: String?

    @Option(help: "Send this one message, print the reply and exit (no interactive chat).")
    var message: String?

    @Flag(help: "With --message: print one JSON object {content, reasoning_content, tool_calls, stats} instead of streaming.")
    var json = false

    @Option(name: [.customShort("n"), .long], help: "Most tokens of one reply.")
    var maxTokens: Int = 1024

    @Option(help: "Tokens the conversation may hold (prompt and replies; default: the model's context, at most 4096).")
    var context: Int?

    @OptionGroup(title: "Sampling") var sampling: SamplingArguments
    @OptionGroup var compute: ComputeOptions
    @OptionGroup(title: "Memory budget and expert cache") var offload: OffloadOptions

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be > 0") }
        if let context, context < 2 { throw ValidationError("--context must be ≥ 2") }
        if json, message == nil { throw ValidationError("--json needs --message (a one-shot chat)") }
        if forceTemplate, template == nil { throw ValidationError("--force-template needs --template FILE") }
    }

    func run() throws {
        do {
            let path = try model ?? DefaultModel.path()
            let m = try Model(path: path, repack: compute.repackPolicy, offload: offload.settings())
            let session = ChatSession(model: m, prompt: try chatPrompt(model: m), contextLength: context ?? min(m.config.maxPositions, 4096),
                                      threads: compute.threadCount, precision: compute.activations)
            if noThink { session.variables["enable_thinking"] = .bool(false) }
            if let tools {
                guard let data = FileManager.default.contents(atPath: tools) else { throw FormatError.missingFile(path: tools) }
                let text = String(decoding: data, as: UTF8.self)
                do { session.tools = try JinjaValue.parseJSON(text) } catch {
                    throw FormatError.malformed(path: tools, what: "not JSON: \(error)")
                }
                session.toolsJSON = text
            }
            if let system { session.append(.system(system)) }
            let stop = CancelFlag()
            let interrupt = stop.installSIGINT()
            defer { interrupt.cancel() }
            if let message {
                try oneShot(session, message, stop: stop)
            } else {
                try interactive(session, stop: stop)
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }

    /// The model's template, or --template, or ChatML (with a notice).
    func chatPrompt(model m: Model) throws -> ChatPrompt {
        let (prompt, isDefault) = try ChatPrompt.forModel(m, file: template, fileFirst: forceTemplate)
        if isDefault { printErr("moe chat: the model carries no chat template; using ChatML (<|im_start|>role … <|im_end|>). Give one with --template FILE.") }
        return prompt
    }

    func options(_ stop: CancelFlag) -> GenerationOptions {
        var o = GenerationOptions(maxTokens: maxTokens, sampling: sampling.options, threads: compute.threadCount, precision: compute.activations)
        o.isCancelled = { stop.isSet }
        return o
    }

    struct OneShotOutput: Encodable {
        let content: String
        let reasoning_content: String?
        let tool_calls: [ToolCall]
        let model: String
        let template: String
        /// The conversation as the template rendered it, what the model read.
        let prompt: String
        let stats: GenerationStats
    }

    func oneShot(_ session: ChatSession, _ text: String, stop: CancelFlag) throws {
        let display = ReplyDisplay(dim: !json && isatty(1) != 0)
        let turn = try session.send(.user(text), options: options(stop)) { delta in
            if !json { display.show(delta) }
        }
        if json {
            try printJSON(OneShotOutput(content: turn.reply.content, reasoning_content: turn.reply.reasoningContent, tool_calls: turn.reply.toolCalls,
                                        model: session.model.store.path, template: session.prompt.origin, prompt: turn.prompt, stats: turn.stats))
        } else {
            display.end()
            printErr(Self.statistics(turn.stats))
        }
    }

    func interactive(_ session: ChatSession, stop: CancelFlag) throws {
        let history = ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.cache/swiftmoe/chat_history" }
        if let history { try? FileManager.default.createDirectory(atPath: (history as NSString).deletingLastPathComponent, withIntermediateDirectories: true) }
        let editor = LineEditor(historyPath: history)
        printErr("moe chat: \((session.model.store.path as NSString).lastPathComponent), template \(session.prompt.origin), reply format \(session.prompt.format.format.rawValue); /help for commands")
        while let line = editor.readLine(prompt: "> ") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text.hasPrefix("/") {
                if try !command(text, session) { break }
                continue
            }
            stop.clear()
            let display = ReplyDisplay(dim: isatty(1) != 0)
            do {
                let turn = try session.send(.user(line), options: options(stop)) { display.show($0) }
                display.end()
                printErr(Self.statistics(turn.stats))
            } catch let e as ChatError {
                display.end()
                printErr("moe chat: \(e)")
            }
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// A slash command; false ends the chat.
    func command(_ text: String, _ session: ChatSession) throws -> Bool {
        let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
        switch parts[0] {
        case "/exit", "/quit":
            return false
        case "/clear":
            session.clear()
            if let system { session.append(.system(system)) }
            printErr("(conversation cleared)")
        case "/save":
            guard parts.count == 2 else { printErr("usage: /save FILE"); return true }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
            do {
                try encoder.encode(["messages": session.messages]).write(to: URL(fileURLWithPath: parts[1]))
                printErr("(saved \(session.messages.count) messages to \(parts[1]))")
            } catch {
                printErr("moe chat: cannot write \(parts[1]): \(error.localizedDescription)")
            }
        default:
            printErr("/clear  start over    /save FILE  write the conversation as JSON    /exit  quit (or Ctrl-D)    Ctrl-C  stop an answer")
        }
        return true
    }

    static func statistics(_ s: GenerationStats) -> String {
        String(format: "[prompt %@, %d reused, %.1f tok/s; reply %@%@; stop: %@]",
               tokens(s.promptTokens), s.reusedPromptTokens, Double(s.promptTokens - s.reusedPromptTokens) / max(s.promptSeconds, 1e-9),
               tokens(s.generatedTokens), s.decodeTokensPerSecond.map { String(format: ", %.1f tok/s", $0) } ?? "", s.stopReason)
    }
}

/// Writes a reply as it streams: reasoning dimmed (on a terminal) and set apart from the answer, tool calls as
/// JSON lines.
final class ReplyDisplay {
    private let dim: Bool
    private var inReasoning = false
    private var wrote = false
    init(dim: Bool) { self.dim = dim }

    func show(_ delta: ChatDelta) {
        switch delta {
        case let .reasoning(text):
            if !inReasoning { write(dim ? "\u{1B}[2m" : "[reasoning] "); inReasoning = true }
            write(text)
        case let .content(text):
            closeReasoning()
            write(text)
        case let .toolCall(call):
            closeReasoning()
            write((wrote ? "\n" : "") + "[tool call] \(call.name) \(call.arguments)\n")
        }
    }

    func end() {
        closeReasoning()
        if wrote { write("\n") }
    }

    private func closeReasoning() {
        guard inReasoning else { return }
        write(dim ? "\u{1B}[0m\n\n" : "\n[answer] ")
        inReasoning = false
    }

    private func write(_ s: String) {
        wrote = true
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}

/// Ctrl-C during an answer: set here, read by generation before each token. (The signal is handled on a
/// dispatch queue, so the flag is read and written under a lock.)
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    var isSet: Bool { lock.withLock { set } }
    func clear() { lock.withLock { set = false } }
    func raise() { lock.withLock { set = true } }

    /// SIGINT raises the flag instead of ending the process.
    func installSIGINT() -> DispatchSourceSignal {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [self] in raise() }
        source.resume()
        return source
    }
}
