import AsyncHTTPClient
import Foundation
import MoEChat
import MoEModel
import MoEServe
@testable import MoEServer
import NIOCore
import NIOHTTP1

/// A server on a free port of 127.0.0.1, in this process, over the default model (Weights/); `stop()` cancels it.
final class TestServer: Sendable {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Weights/tiny-qwen3moe-Q8_0.gguf").path
    static let model: Model? = try? Model(path: modelPath)

    let server: OpenAIServer
    let task: Task<Void, Error>
    let base: String

    init(slots: Int = 4, context: Int = 1024, queue: Int = 8, apiKey: String? = nil, maxBody: Int = 1 << 20) async throws {
        guard let model = Self.model else { throw APIError(.internalServerError, "the default model \(Self.modelPath) did not load") }
        let scheduler = BatchScheduler(model: model, slots: slots, contextLength: context, threads: 2, precision: .q8, queueLimit: queue)
        let server = OpenAIServer(scheduler: scheduler, chatPrompt: try ChatPrompt(source: ChatPrompt.chatML, origin: "ChatML"),
                                  configuration: ServerConfiguration(host: "127.0.0.1", port: 0, apiKey: apiKey, maxBodyBytes: maxBody,
                                                                     modelId: "tiny-qwen3moe-Q8_0.gguf"))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        task = Task { try await server.run(handleSignals: false) { continuation.yield($0) } }
        var port = 0
        for await p in ports { port = p; break }
        self.server = server
        base = "http://127.0.0.1:\(port)"
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    struct Reply {
        let status: Int
        let body: String
        let headers: [(String, String)]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        var error: [String: Any]? { json["error"] as? [String: Any] }
        /// The server-sent events' data, [DONE] included.
        var events: [String] {
            body.components(separatedBy: "\n\n").compactMap { block in
                block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
            }
        }
        var eventObjects: [[String: Any]] {
            events.filter { $0 != "[DONE]" }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }
    }

    func request(_ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
        let data = try await response.body.collect(upTo: 64 << 20)
        return Reply(status: Int(response.status.code), body: String(buffer: data), headers: response.headers.map { ($0.name, $0.value) })
    }

    func post(_ path: String, _ body: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request(.POST, path, body: body, headers: headers)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request(.GET, path, headers: headers)
    }

    /// Polls /health until `slots_active` is `n` (false after `seconds`).
    func waitForActiveSlots(_ n: Int, seconds: Double = 60) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if (try await get("/health").json["slots_active"] as? Int) == n { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// A chat request body.
func chatBody(_ text: String, maxTokens: Int = 24, stream: Bool = false, extra: String = "") -> String {
    let escaped = String(data: try! JSONSerialization.data(withJSONObject: [text]), encoding: .utf8)!.dropFirst().dropLast()
    return #"{"model": "anything", "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": \#(escaped)}], "#
        + #""max_tokens": \#(maxTokens), "temperature": 0, "seed": 7, "stream": \#(stream)\#(extra)}"#
}

/// The content a chat completion's stream carried, in order.
func streamedContent(_ reply: TestServer.Reply) -> String {
    reply.eventObjects.compactMap { ((($0["choices"] as? [[String: Any]])?.first?["delta"]) as? [String: Any])?["content"] as? String }.joined()
}
