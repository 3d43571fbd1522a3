import ArgumentParser
import AsyncHTTPClient
import Foundation
import MoEKernels
import NIOCore

/// `moe-bench serve`: C concurrent streaming clients against `moe serve` and llama-server on the same file.
struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Concurrent clients against moe serve and llama-server: aggregate tokens/s, time to first token, inter-token latency.",
        discussion: """
        Each engine is started as a server (moe serve --parallel N; llama-server --parallel N with N × --context
        tokens of KV cache), warmed with one request, then for each client count C in --clients: C clients at
        once, each sending --requests streamed /v1/completions requests one after another (a prompt of
        --prompt-words words, different per request; max_tokens --gen-tokens, temperature 0, ignore_eos).
        Reported per C: aggregate decode tokens/s (completion tokens of all requests ÷ wall time of the round),
        time to first token and inter-token latency percentiles (p50/p90/p99, from the streamed chunks' arrival
        times), requests failed. With --memory-limit each server runs under `memlimit --limit` (its own memory
        cgroup, the model dropped from the page cache first); moe serve also gets --memory-budget of the limit.

        Example:
          moe-bench serve --model /work/models/olmoe-like-Q4_0.gguf --clients 1,2,4 --parallel 4 -n 32
        """)

    @Option(name: .shortAndLong, help: "GGUF file.") var model: String
    @Option(help: "Client counts, comma-separated.") var clients = "1,2,4,8"
    @Option(help: "Requests per client per round.") var requests = 2
    @Option(name: [.customShort("n"), .long], help: "Tokens per completion.") var genTokens = 32
    @Option(help: "Words in each prompt.") var promptWords = 48
    @Option(help: "Server slots (moe serve --parallel, llama-server --parallel).") var parallel = 4
    @Option(help: "Context per slot, tokens.") var context = 512
    @Option(name: .shortAndLong, help: "Threads of each server.") var threads = ThreadPool.physicalCores
    @Option(help: "llama.cpp bin folder with llama-server, or 'none' (default: the build script's cache).") var llamaCpp: String?
    @Option(help: "Run each server under a memory cgroup of this size (e.g. 1.5GiB).") var memoryLimit: String?
    @Option(help: "Extra arguments for moe serve (space-separated), e.g. \"--cache-policy lfu\".") var moeArgs = ""
    @Option(help: "Also write the results as JSON to this file.") var json: String?

    struct Round: Codable {
        let engine: String
        let clients: Int
        let requests: Int
        let failed: Int
        let completionTokens: Int
        let seconds: Double
        let tokensPerSecond: Double
        let ttft: Percentiles
        let interToken: Percentiles
    }
    struct Percentiles: Codable { let p50: Double; let p90: Double; let p99: Double }

    func run() async throws {
        let counts = clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--clients: a list of counts ≥ 1") }
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("no such model: \(model)") }
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        var engines: [(name: String, command: [String])] = []
        var moe = [here + "/moe", "serve", "--model", model, "--port", "PORT", "--parallel", "\(parallel)", "--context", "\(context)",
                   "--threads", "\(threads)"]
        if let memoryLimit { moe += ["--memory-budget", memoryLimit] }
        moe += moeArgs.split(separator: " ").map(String.init)
        engines.append(("swiftmoe", moe))
        if llamaCpp != "none", let bin = LlamaCpp.locate(llamaCpp)?.bin, FileManager.default.isExecutableFile(atPath: bin + "/llama-server") {
            engines.append(("llama-server", [bin + "/llama-server", "-m", model, "--port", "PORT", "--host", "127.0.0.1",
                                             "--parallel", "\(parallel)", "-c", "\(context * parallel)", "-t", "\(threads)"]))
        } else if llamaCpp != "none" {
            log("llama-server not found (Tools/scripts/build-llamacpp.sh builds it): measuring SwiftMoE alone")
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        var rounds: [Round] = []
        do {
            for engine in engines {
                let server = try await Server.start(engine.name, command: engine.command, memoryLimit: memoryLimit, model: model,
                                                    here: here, http: http)
                do {
                    _ = try await Self.complete(http, server.url, prompt: Self.prompt(0, words: promptWords), tokens: 4)
                    for c in counts {
                        let round = try await runRound(http, server: server, engine: engine.name, clients: c)
                        log(String(format: "%@ C=%d: %.2f tok/s aggregate, TTFT p50 %.3f s, ITL p50 %.3f s p99 %.3f s, %d failed",
                                   engine.name, c, round.tokensPerSecond, round.ttft.p50, round.interToken.p50, round.interToken.p99, round.failed))
                        rounds.append(round)
                    }
                } catch {
                    server.stop()
                    throw error
                }
                server.stop()
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        print(Self.table(rounds))
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(rounds).write(to: URL(fileURLWithPath: json))
        }
    }

    func runRound(_ http: HTTPClient, server: Server, engine: String, clients c: Int) async throws -> Round {
        let start = ContinuousClock.now
        let results = await withTaskGroup(of: [Completion?].self) { group in
            for client in 0 ..< c {
                group.addTask {
                    var out: [Completion?] = []
                    for r in 0 ..< requests {
                        out.append(try? await Self.complete(http, server.url, prompt: Self.prompt(1 + client * 1000 + r, words: promptWords),
                                                            tokens: genTokens))
                    }
                    return out
                }
            }
            var all: [Completion?] = []
            for await r in group { all += r }
            return all
        }
        let seconds = (ContinuousClock.now - start).seconds
        let ok = results.compactMap { $0 }
        let tokens = ok.reduce(0) { $0 + $1.tokens }
        return Round(engine: engine, clients: c, requests: results.count, failed: results.count - ok.count, completionTokens: tokens,
                     seconds: seconds, tokensPerSecond: Double(tokens) / seconds,
                     ttft: Self.percentiles(ok.map(\.ttft)), interToken: Self.percentiles(ok.flatMap(\.gaps)))
    }

    /// A prompt of `words` words, different for every `seed` (so no server reuses another request's prefix).
    static func prompt(_ seed: Int, words: Int) -> String {
        let vocabulary = ["the", "river", "stone", "light", "city", "under", "green", "morning", "song", "paper", "window",
                          "quiet", "north", "garden", "iron", "letter", "winter", "bridge", "salt", "clock"]
        var x = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0 ..< words).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return vocabulary[Int(x % UInt64(vocabulary.count))]
        }.joined(separator: " ")
    }

    struct Completion { let tokens: Int; let ttft: Double; let gaps: [Double] }

    /// One streamed /v1/completions request: chunk arrival times. Tokens: the usage figure when the server
    /// sends one, else the chunks that carried text.
    static func complete(_ http: HTTPClient, _ base: String, prompt: String, tokens: Int) async throws -> Completion {
        var request = HTTPClientRequest(url: base + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: [String: Any] = ["prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": true, "ignore_eos": true,
                                   "stream_options": ["include_usage": true]]
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let start = ContinuousClock.now
        let response = try await http.execute(request, timeout: .seconds(600))
        guard response.status == .ok else { throw BenchError.badOutput("server", "HTTP \(response.status.code)") }
        var times: [Double] = [], usage: Int?, pending = ""
        for try await buffer in response.body {
            pending += String(buffer: buffer)
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline].trimmingCharacters(in: .whitespaces)
                pending = String(pending[pending.index(after: newline)...])
                guard line.hasPrefix("data:") else { continue }
                let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                if payload == "[DONE]" { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
                if let u = object["usage"] as? [String: Any], let n = u["completion_tokens"] as? Int { usage = n }
                let text = ((object["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
                if !text.isEmpty { times.append((ContinuousClock.now - start).seconds) }
            }
        }
        guard let first = times.first else { throw BenchError.badOutput("server", "no tokens streamed") }
        return Completion(tokens: usage ?? times.count, ttft: first, gaps: zip(times.dropFirst(), times).map { $0 - $1 })
    }

    static func percentiles(_ values: [Double]) -> Percentiles {
        let s = values.sorted()
        func p(_ q: Double) -> Double { s.isEmpty ? .nan : s[min(s.count - 1, Int((Double(s.count - 1) * q).rounded()))] }
        return Percentiles(p50: p(0.5), p90: p(0.9), p99: p(0.99))
    }

    static func table(_ rounds: [Round]) -> String {
        var lines = ["| engine | clients | requests (failed) | tokens | s | aggregate tok/s | TTFT p50 / p90 s | ITL p50 / p90 / p99 ms |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rounds {
            lines.append(String(format: "| %@ | %d | %d (%d) | %d | %.1f | %.2f | %.3f / %.3f | %.0f / %.0f / %.0f |", r.engine, r.clients,
                                r.requests, r.failed, r.completionTokens, r.seconds, r.tokensPerSecond, r.ttft.p50, r.ttft.p90,
                                r.interToken.p50 * 1000, r.interToken.p90 * 1000, r.interToken.p99 * 1000))
        }
        return lines.joined(separator: "\n")
    }
}

/// A server child process on a free port.
final class Server: @unchecked Sendable {
    let process: Process
    let url: String
    let name: String

    private init(process: Process, url: String, name: String) {
        self.process = process
        self.url = url
        self.name = name
    }

    /// Starts `command` ("PORT" replaced by a free port), under memlimit when asked, and waits until GET /health
    /// answers 200 (at most 10 minutes: a large model loads first).
    static func start(_ name: String, command: [String], memoryLimit: String?, model: String, here: String,
                      http: HTTPClient) async throws -> Server {
        let port = try freePort()
        var argv = command.map { $0 == "PORT" ? "\(port)" : $0 }
        if let memoryLimit { argv = [here + "/memlimit", "--limit", memoryLimit, "--drop", model, "--"] + argv }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("moe-bench-\(name)-\(port).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let server = Server(process: process, url: "http://127.0.0.1:\(port)", name: name)
        let deadline = ContinuousClock.now + .seconds(600)
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw BenchError.childFailed(name, process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
            }
            if let r = try? await http.execute(HTTPClientRequest(url: server.url + "/health"), timeout: .seconds(5)), r.status == .ok {
                return server
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        server.stop()
        throw BenchError.badOutput(name, "not ready after 10 minutes (log: \(log.path))")
    }

    func stop() {
        guard process.isRunning else { return }
        process.interrupt()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// A port the kernel had free a moment ago (bind to 0, read it, close).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BenchError.spawn("a server", "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
