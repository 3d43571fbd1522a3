import ArgumentParser
import ChatTemplate
import Foundation
import MoEChat
import MoEFormats
import MoEModel
import MoEServe
import MoEServer
import MoEStore
import ToolSupport

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP with OpenAI's API (chat and text completions, streamed or whole).",
        discussion: """
        Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics
        (Prometheus). Up to --parallel requests decode together (continuous batching: their experts run once
        per step for all of them); more wait in a queue of --queue, beyond which requests get 503.
        Prints one line with the URL once listening (--port 0 takes a free port). SIGINT/SIGTERM stop taking
        requests and let running ones finish for up to 10 s. Docs/SERVER.md describes the API.

        Examples:
          moe serve --model Qwen3-30B-A3B-Q4_K_M.gguf --port 8080
          moe serve --model model.gguf --parallel 8 --context 8192 --api-key secret --memory-budget 12GiB
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder (default: Weights/\(DefaultModel.fileName)).")
    var model: String?

    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, printed).")
    var port = 8080

    @Option(help: "Requests decoding together (slots, each with its own KV cache).")
    var parallel = 4

    @Option(help: "Tokens per slot, prompt and reply (default: the model's context, at most 4096).")
    var context: Int?

    @Option(help: "Requests that may wait for a slot; beyond them requests get 503.")
    var queue = 64

    @Option(help: "Require `Authorization: Bearer KEY` on every /v1 route.")
    var apiKey: String?

    @Option(help: "A Jinja chat template file, used instead of the model's own (default: the model's, else ChatML).")
    var chatTemplate: String?

    @Option(help: ArgumentHelp("Largest request body (bytes, or as 4MiB).", valueName: "size"))
    var maxBody = "1MiB"

    @OptionGroup(title: "Sampling defaults (for requests that leave them out)") var sampling: SamplingArguments
    @OptionGroup var compute: ComputeOptions
    @OptionGroup(title: "Memory budget and expert cache") var offload: OffloadOptions

    func validate() throws {
        guard (0 ... 65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard parallel >= 1, parallel <= 256 else { throw ValidationError("--parallel must be between 1 and 256") }
        guard queue >= 0 else { throw ValidationError("--queue must be ≥ 0") }
        if let context, context < 16 { throw ValidationError("--context must be ≥ 16") }
        guard (try? maxBodyBytes()) != nil else { throw ValidationError("--max-body: give a size in bytes, or as 512KiB / 4MiB") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func maxBodyBytes() throws -> Int {
        let bytes = try Int(maxBody) ?? ByteSize.parse(maxBody)
        guard bytes >= 1024 else { throw ValidationError("--max-body must be at least 1024 bytes") }
        return bytes
    }

    func run() throws {
        do {
            let path = try model ?? DefaultModel.path()
            let m = try Model(path: path, repack: compute.repackPolicy, offload: offload.settings())
            let prompt = try chatPrompt(model: m)
            let contextLength = min(context ?? min(m.config.maxPositions, 4096), m.config.maxPositions)
            let forced = try offload.forcedRouting(for: m)
            if forced != nil {
                printErr("moe serve: routing forced from \(offload.routingTrace!), each request from a document of its own: " +
                         "the replies are meaningless; the batching and the expert cache's work are real (a benchmark mode)")
            }
            let scheduler = BatchScheduler(model: m, slots: parallel, contextLength: contextLength, threads: compute.threadCount,
                                           precision: compute.activations, queueLimit: queue, forcedRouting: forced)
            let id = URL(fileURLWithPath: path).lastPathComponent
            let server = OpenAIServer(scheduler: scheduler, chatPrompt: prompt, configuration: ServerConfiguration(
                host: host, port: port, apiKey: apiKey, maxBodyBytes: try maxBodyBytes(), modelId: id, defaultSampling: sampling.options))
            let host = self.host, parallel = self.parallel
            printErr("moe serve: \(id), template \(prompt.origin), \(parallel) slots × \(scheduler.contextLength) tokens, queue \(queue), " +
                     "state \(ByteSize.format(scheduler.snapshot().stateBytes))")
            // ArgumentParser's root command is synchronous: the server runs on the concurrency pool while this
            // thread waits for it.
            let result = ResultBox()
            let done = DispatchSemaphore(value: 0)
            Task {
                do {
                    try await server.run(handleSignals: true) { port in
                        let shown = host.contains(":") ? "[\(host)]" : host
                        FileHandle.standardOutput.write(Data("moe serve: listening on http://\(shown):\(port)\n".utf8))
                    }
                } catch {
                    result.set(error)
                }
                done.signal()
            }
            done.wait()
            if let error = result.get() { throw error }
            printErr("moe serve: stopped")
        } catch let e as ValidationError {
            throw e
        } catch {
            throw fail(error)
        }
    }

    /// --chat-template, else the model's template, else ChatML (with a notice).
    func chatPrompt(model m: Model) throws -> ChatPrompt {
        let (prompt, isDefault) = try ChatPrompt.forModel(m, file: chatTemplate, fileFirst: true)
        if isDefault { printErr("moe serve: the model carries no chat template; chat requests use ChatML (<|im_start|>role … <|im_end|>). Give one with --chat-template FILE.") }
        return prompt
    }
}

/// The server task's error, handed to the waiting thread.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ e: Error) { lock.lock(); error = e; lock.unlock() }
    func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
}
