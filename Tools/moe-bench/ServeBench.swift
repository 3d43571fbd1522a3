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
        Reported per C: aggregate tokens/s (completion tokens of all requests ÷ wall time of the round, prefill
        and queueing included), decode tokens/s (C ÷ the mean gap between a stream's tokens: the streams' rate
        while they decode together), time to first token and inter-token latency percentiles (p50/p90/p99, from the streamed chunks' arrival
        times), requests refused (HTTP 503: slots and queue full) and failed (anything else). For moe serve,
        its /metrics counters over each round: expert runs the routers asked for and those computed (the
        difference was saved by decoding the slots together), and with a memory budget the expert cache's
        requests, hits, misses and MB read per token. With --memory-limit each server runs under
        `memlimit --limit` (its own memory cgroup, the model dropped from the page cache first; its peak is
        reported when the server stops); moe serve also gets --memory-budget of the limit.

        Example:
          moe-bench serve --model models/olmoe-like-Q4_0.gguf --clients 1,2,4 --parallel 4 -n 32
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
        /// HTTP 503 (slots and queue full): an answer, not a failure.
        let refused: Int
        let failed: Int
        let completionTokens: Int
        let seconds: Double
        let tokensPerSecond: Double
        /// The streams' decode rate while they decode together: clients ÷ the mean gap between a stream's tokens
        /// (no prefill or queueing in it; what batching does to a decode step).
        let decodeTokensPerSecond: Double
        let ttft: Percentiles
        let interToken: Percentiles
        /// moe serve's /metrics counters over the round (nil for llama-server).
        let metrics: [String: Double]?
        /// The first failure's message, when some failed.
        let firstFailure: String?
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
        // One connection per client (AsyncHTTPClient's default pool holds 8 per host and queues the rest).
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(counts.max()! + 1, 8))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var rounds: [Round] = []
        do {
            for engine in engines {
                let server = try await Server.start(engine.name, command: engine.command, memoryLimit: memoryLimit, model: model,
                                                    here: here, http: http)
                do {
                    _ = try await Self.complete(http, server.url, prompt: Self.prompt(0, words: promptWords), tokens: 4)
                    for c in counts {
                        let round = try await runRound(http, server: server, engine: engine.name, clients: c)
                        log(String(format: "%@ C=%d: %.2f tok/s aggregate, %.2f decoding, TTFT p50 %.3f s, ITL p50 %.3f s p99 %.3f s, %d refused, %d failed",
                                   engine.name, c, round.tokensPerSecond, round.decodeTokensPerSecond, round.ttft.p50, round.interToken.p50, round.interToken.p99,
                                   round.refused, round.failed) + (round.firstFailure.map { "; first failure: \($0)" } ?? ""))
                        rounds.append(round)
                    }
                } catch {
                    server.stop()
                    throw error
                }
                server.stop()
                if memoryLimit != nil { log("\(engine.name): \(server.memlimitReport ?? "no memlimit report in \(server.log.path)")") }
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        print(Self.table(rounds))
        if rounds.contains(where: { $0.metrics != nil }) { print("\n" + Self.metricsTable(rounds)) }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(rounds).write(to: URL(fileURLWithPath: json))
        }
    }

    func runRound(_ http: HTTPClient, server: Server, engine: String, clients c: Int) async throws -> Round {
        let before = engine == "swiftmoe" ? await Self.metrics(http, server.url) : nil
        let start = ContinuousClock.now
        let results = await withTaskGroup(of: [Result<Completion, Error>].self) { group in
            for client in 0 ..< c {
                group.addTask {
                    var out: [Result<Completion, Error>] = []
                    for r in 0 ..< requests {
                        do {
                            out.append(.success(try await Self.complete(http, server.url, prompt: Self.prompt(1 + client * 1000 + r, words: promptWords),
                                                                        tokens: genTokens)))
                        } catch {
                            out.append(.failure(error))
                        }
                    }
                    return out
                }
            }
            var all: [Result<Completion, Error>] = []
            for await r in group { all += r }
            return all
        }
        let seconds = (ContinuousClock.now - start).seconds
        let ok = results.compactMap { try? $0.get() }
        let refused = results.filter { if case .failure(BenchError.refused) = $0 { return true } else { return false } }.count
        let tokens = ok.reduce(0) { $0 + $1.tokens }
        var delta: [String: Double]?
        if let before, let after = await Self.metrics(http, server.url) {
            delta = after.reduce(into: [:]) { d, kv in d[kv.key] = kv.value - (before[kv.key] ?? 0) }
        }
        return Round(engine: engine, clients: c, requests: results.count, refused: refused, failed: results.count - ok.count - refused,
                     completionTokens: tokens, seconds: seconds, tokensPerSecond: Double(tokens) / seconds,
                     decodeTokensPerSecond: Self.decodeRate(clients: c, gaps: ok.flatMap(\.gaps)),
                     ttft: Self.percentiles(ok.map(\.ttft)), interToken: Self.percentiles(ok.flatMap(\.gaps)), metrics: delta,
                     firstFailure: results.lazy.compactMap { r -> String? in
                         if case let .failure(e) = r, !(e is BenchError && "\(e)" == "\(BenchError.refused)") { return "\(e)" }
                         return nil
                     }.first)
    }

    /// moe serve's counters (`moe_*` lines without labels) from GET /metrics; nil when it does not answer.
    static func metrics(_ http: HTTPClient, _ base: String) async -> [String: Double]? {
        guard let response = try? await http.execute(HTTPClientRequest(url: base + "/metrics"), timeout: .seconds(30)),
              response.status == .ok, let body = try? await response.body.collect(upTo: 1 << 22) else { return nil }
        var values: [String: Double] = [:]
        for line in String(buffer: body).split(separator: "\n") where line.hasPrefix("moe_") && !line.contains("{") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
        }
        return values
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
        if response.status == .serviceUnavailable { throw BenchError.refused }
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

    /// clients ÷ mean inter-token gap (0 without gaps).
    static func decodeRate(clients: Int, gaps: [Double]) -> Double {
        let total = gaps.reduce(0, +)
        return total > 0 ? Double(clients) * Double(gaps.count) / total : 0
    }

    static func table(_ rounds: [Round]) -> String {
        var lines = ["| engine | clients | requests (refused, failed) | tokens | s | aggregate tok/s | decode tok/s | TTFT p50 / p90 s | ITL p50 / p90 / p99 ms |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rounds {
            lines.append(String(format: "| %@ | %d | %d (%d, %d) | %d | %.1f | %.2f | %.2f | %.3f / %.3f | %.0f / %.0f / %.0f |", r.engine, r.clients,
                                r.requests, r.refused, r.failed, r.completionTokens, r.seconds, r.tokensPerSecond, r.decodeTokensPerSecond,
                                r.ttft.p50, r.ttft.p90, r.interToken.p50 * 1000, r.interToken.p90 * 1000, r.interToken.p99 * 1000))
        }
        return lines.joined(separator: "\n")
    }

    /// moe serve's counters per round: what batching saved, and the expert cache's work under a budget.
    static func metricsTable(_ rounds: [Round]) -> String {
        var lines = ["| clients | mean batch | expert runs routed | computed | saved by batching | cache requests | hits + prefetch hits | misses | MB read / token |",
                     "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rounds {
            guard let m = r.metrics else { continue }
            func v(_ name: String) -> Double { m[name] ?? 0 }
            let routed = v("moe_expert_runs_routed_total"), computed = v("moe_expert_runs_computed_total")
            let tokens = max(v("moe_generated_tokens_total"), 1)
            lines.append(String(format: "| %d | %.2f | %.0f | %.0f | %.1f%% | %.0f | %.0f | %.0f | %.1f |", r.clients,
                                v("moe_batch_rows_total") / max(v("moe_batch_steps_total"), 1), routed, computed,
                                routed > 0 ? 100 * (routed - computed) / routed : 0, v("moe_expert_cache_requests_total"),
                                v("moe_expert_cache_hits_total") + v("moe_expert_cache_prefetch_hits_total"), v("moe_expert_cache_misses_total"),
                                v("moe_expert_cache_bytes_read_total") / 1e6 / tokens))
        }
        return lines.joined(separator: "\n")
    }
}

/// A server child process on a free port.
final class Server: @unchecked Sendable {
    let process: Process
    let url: String
    let name: String
    /// Where the server's (and memlimit's) stdout and stderr go.
    let log: URL

    private init(process: Process, url: String, name: String, log: URL) {
        self.process = process
        self.url = url
        self.name = name
        self.log = log
    }

    /// memlimit's one-line report (limit, peak, failcnt, OOM), once the server has stopped.
    var memlimitReport: String? {
        (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").last { $0.hasPrefix("memlimit: limit") }.map(String.init)
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
        let server = Server(process: process, url: "http://127.0.0.1:\(port)", name: name, log: log)
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
