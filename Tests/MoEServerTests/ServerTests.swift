import AsyncHTTPClient
import Foundation
import MoEModel
import MoEServe
import NIOCore
@testable import MoEServer
import Testing
import TestSupport

/// The HTTP API end to end: a server on a free port in this process, over the default model, spoken to with
/// AsyncHTTPClient. Serialized: each test runs its own server, and two cores are enough for one at a time.
@Suite(.serialized)
struct ServerTests {
    @Test("GET /v1/models lists the served model; /health reports slots and queue")
    func modelsAndHealth() async throws {
        let s = try await TestServer(slots: 2, queue: 3)
        defer { Task { await s.stop() } }
        let models = try await s.get("/v1/models")
        #expect(models.status == 200)
        #expect(models.json["object"] as? String == "list")
        let data = try #require(models.json["data"] as? [[String: Any]])
        #expect(data.map { $0["id"] as? String } == ["tiny-qwen3moe-Q8_0.gguf"])
        let health = try await s.get("/health")
        #expect(health.status == 200)
        #expect(health.json["slots"] as? Int == 2)
        #expect(health.json["slots_active"] as? Int == 0)
        #expect(health.json["queued"] as? Int == 0)
        #expect(health.json["queue_limit"] as? Int == 3)
    }

    @Test("a chat completion whole and streamed gives the same text at temperature 0; usage in both")
    func plainEqualsStreamed() async throws {
        let s = try await TestServer()
        defer { Task { await s.stop() } }
        let plain = try await s.post("/v1/chat/completions", chatBody("Tell me a story about a fox.", maxTokens: 24))
        #expect(plain.status == 200)
        #expect(plain.json["object"] as? String == "chat.completion")
        #expect(plain.json["model"] as? String == "tiny-qwen3moe-Q8_0.gguf")
        let choice = try #require((plain.json["choices"] as? [[String: Any]])?.first)
        let message = try #require(choice["message"] as? [String: Any])
        let text = try #require(message["content"] as? String)
        #expect(!text.isEmpty)
        #expect(["stop", "length"].contains(choice["finish_reason"] as? String))
        let usage = try #require(plain.json["usage"] as? [String: Any])
        let completionTokens = try #require(usage["completion_tokens"] as? Int)
        #expect(completionTokens > 0 && completionTokens <= 24)
        #expect(usage["total_tokens"] as? Int == (usage["prompt_tokens"] as? Int ?? 0) + completionTokens)
        #expect((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] is Int)

        let streamed = try await s.post("/v1/chat/completions",
                                        chatBody("Tell me a story about a fox.", maxTokens: 24, stream: true,
                                                 extra: #", "stream_options": {"include_usage": true}"#))
        #expect(streamed.status == 200)
        #expect(streamed.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/event-stream") })
        #expect(streamed.events.last == "[DONE]")
        let chunks = streamed.eventObjects
        #expect(((chunks.first?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["role"] as? String == "assistant")
        #expect(streamedContent(streamed) == text)
        let finishes = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
        #expect(finishes == [choice["finish_reason"] as? String])
        let usageChunk = try #require(chunks.last)
        #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
        #expect((usageChunk["usage"] as? [String: Any])?["completion_tokens"] as? Int == completionTokens)
        // The second request repeats the first's prompt: its slot still holds it.
        #expect(((usageChunk["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int ?? 0 > 0)
    }

    @Test("response_format json_object: the content is a JSON object (or its valid start when cut by max_tokens)")
    func jsonObject() async throws {
        let s = try await TestServer()
        defer { Task { await s.stop() } }
        let r = try await s.post("/v1/chat/completions", chatBody("Give me a JSON object describing a fox.", maxTokens: 200,
                                                                extra: #", "response_format": {"type": "json_object"}"#))
        #expect(r.status == 200)
        let choice = try #require((r.json["choices"] as? [[String: Any]])?.first)
        let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        var prefix = JSONPrefix()
        let valid = prefix.feed(Array(content.utf8))
        #expect(valid, "\(content)")
        let header = r.headers.first { $0.0.lowercased() == "x-moe-json-valid" }?.1
        if choice["finish_reason"] as? String == "stop" {
            #expect(prefix.isComplete && header == "true", "\(content)")
        } else {
            #expect(header == "false")
        }
    }

    @Test("a completion ended by a stop string still reports the prompt tokens its slot reused")
    func cachedTokensAfterStopString() async throws {
        let s = try await TestServer(slots: 1)
        defer { Task { await s.stop() } }
        let body = chatBody("Tell me a story about a fox.", maxTokens: 24, extra: #", "ignore_eos": true"#)
        let first = try await s.post("/v1/chat/completions", body)
        let text = try #require(((first.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String)
        let stop = String(text.dropFirst(2).prefix(3))
        try #require(stop.count == 3, "reply too short: \(text)")
        let stops = String(decoding: try JSONSerialization.data(withJSONObject: [stop]), as: UTF8.self)
        let second = try await s.post("/v1/chat/completions",
                                      chatBody("Tell me a story about a fox.", maxTokens: 24, extra: #", "ignore_eos": true, "stop": \#(stops)"#))
        let choice = try #require((second.json["choices"] as? [[String: Any]])?.first)
        #expect(choice["finish_reason"] as? String == "stop")
        let usage = try #require(second.json["usage"] as? [String: Any])
        #expect((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int ?? 0 > 0)
    }

    @Test("four concurrent streams all complete, decoding in shared batches")
    func concurrentStreams() async throws {
        let s = try await TestServer(slots: 4)
        defer { Task { await s.stop() } }
        let prompts = ["Once upon a time", "def fibonacci(n):", "Der Himmel ist", "The quick brown fox"]
        let replies = try await withThrowingTaskGroup(of: TestServer.Reply.self) { group in
            for p in prompts {
                group.addTask { try await s.post("/v1/chat/completions", chatBody(p, maxTokens: 32, stream: true, extra: #", "ignore_eos": true"#)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.count == 4)
        for r in replies {
            #expect(r.status == 200)
            #expect(r.events.last == "[DONE]")
            #expect(r.eventObjects.contains { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "length" })
        }
        let snapshot = s.server.scheduler.snapshot()
        #expect(snapshot.generatedTokens == 4 * 32)
        #expect(snapshot.rows > snapshot.steps)   // several requests per forward call
    }

    @Test("a client that disconnects mid-stream frees its slot; the next request on a 1-slot server completes")
    func disconnectFreesSlot() async throws {
        let s = try await TestServer(slots: 1, context: 2048, queue: 2)
        defer { Task { await s.stop() } }
        // The tiny model's context is 2048 tokens: 2000 tokens take it many seconds, unless cancelled.
        let long = chatBody("Once upon a time", maxTokens: 2000, stream: true, extra: #", "ignore_eos": true"#)
        let client = Task {
            var request = HTTPClientRequest(url: s.base + "/v1/chat/completions")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: long))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
            var received = ""
            for try await buffer in response.body {
                received += String(buffer: buffer)
                if received.components(separatedBy: "\"content\"").count > 4 { break }   // some tokens, then drop the connection
            }
            return (Int(response.status.code), received)
        }
        let (status, received) = try await client.value
        #expect(status == 200)
        #expect(!received.contains("[DONE]"))
        #expect(try await s.waitForActiveSlots(0, seconds: 60))
        let generated = s.server.scheduler.snapshot().generatedTokens
        #expect(generated > 0 && generated < 2000, "generated \(generated)")   // cancelled, not run to max_tokens
        let next = try await s.post("/v1/chat/completions", chatBody("Hello", maxTokens: 4))
        #expect(next.status == 200)
        #expect((next.json["usage"] as? [String: Any])?["completion_tokens"] as? Int ?? 0 > 0)
    }

    @Test("with --api-key, /v1 routes need the bearer key (401 in OpenAI's shape otherwise); /health does not")
    func apiKey() async throws {
        let s = try await TestServer(apiKey: "sekret")
        defer { Task { await s.stop() } }
        let none = try await s.get("/v1/models")
        #expect(none.status == 401)
        #expect(none.error?["code"] as? String == "invalid_api_key")
        #expect(none.error?["message"] is String)
        #expect(try await s.get("/v1/models", headers: [("Authorization", "Bearer wrong")]).status == 401)
        #expect(try await s.post("/v1/chat/completions", chatBody("Hi", maxTokens: 2)).status == 401)
        #expect(try await s.get("/v1/models", headers: [("Authorization", "Bearer sekret")]).status == 200)
        #expect(try await s.post("/v1/chat/completions", chatBody("Hi", maxTokens: 2), headers: [("Authorization", "Bearer sekret")]).status == 200)
        #expect(try await s.get("/health").status == 200)
    }

    @Test("bad requests get 4xx with {error: {message, type, code}} and the server keeps serving")
    func badRequests() async throws {
        let s = try await TestServer(context: 64, maxBody: 4096)
        defer { Task { await s.stop() } }
        let cases: [(body: String, status: Int, code: String)] = [
            ("{not json", 400, "invalid_json"),
            ("[1, 2]", 400, "invalid_json"),
            (#"{"model": "m"}"#, 400, "missing_required_parameter"),
            (#"{"messages": "hello"}"#, 400, "invalid_type"),
            (#"{"messages": []}"#, 400, "invalid_value"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}"#, 400, "invalid_type"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}"#, 400, "invalid_value"),
            (#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000000000}"#, 400, "invalid_value"),
            (#"{"messages": [{"role": "wizard", "content": "hi"}]}"#, 400, "invalid_value"),
            (chatBody(String(repeating: "the quick brown fox jumps over the lazy dog ", count: 20)), 400, "context_length_exceeded"),
            (chatBody(String(repeating: "x", count: 5000)), 413, "body_too_large"),
        ]
        for c in cases {
            let r = try await s.post("/v1/chat/completions", c.body)
            #expect(r.status == c.status, "\(c.body.prefix(60)): \(r.body)")
            #expect(r.error?["code"] as? String == c.code, "\(c.body.prefix(60)): \(r.body)")
            #expect(r.error?["type"] as? String == "invalid_request_error")
            #expect(r.error?["message"] is String)
        }
        let completion = try await s.post("/v1/completions", #"{"prompt": 42}"#)
        #expect(completion.status == 400)
        #expect(completion.error?["param"] as? String == "prompt")
        let missing = try await s.get("/v1/nothing")
        #expect(missing.status == 404)
        #expect(missing.error != nil)
        #expect(try await s.post("/v1/chat/completions", chatBody("Hi", maxTokens: 2)).status == 200)
    }

    @Test("slots and queue full: 503 in OpenAI's shape, and the server serves again once they free")
    func busy() async throws {
        let s = try await TestServer(slots: 1, context: 2048, queue: 0)
        defer { Task { await s.stop() } }
        let long = Task { try await s.post("/v1/completions", #"{"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": true, "stream": true}"#) }
        #expect(try await s.waitForActiveSlots(1))
        let refused = try await s.post("/v1/chat/completions", chatBody("Hi", maxTokens: 2))
        #expect(refused.status == 503)
        #expect(refused.error?["code"] as? String == "server_busy")
        #expect(refused.error?["type"] as? String == "server_error")
        long.cancel()
        _ = try? await long.value
        #expect(try await s.waitForActiveSlots(0))
        #expect(try await s.post("/v1/chat/completions", chatBody("Hi", maxTokens: 2)).status == 200)
    }

    @Test("/v1/completions: stop strings end the text before them, whole and streamed")
    func completionsAndStop() async throws {
        let s = try await TestServer()
        defer { Task { await s.stop() } }
        let base = #"{"prompt": "In the beginning God created", "max_tokens": 40, "temperature": 0, "ignore_eos": true"#
        let full = try await s.post("/v1/completions", base + "}")
        #expect(full.status == 200)
        #expect(full.json["object"] as? String == "text_completion")
        let text = try #require(((full.json["choices"] as? [[String: Any]])?.first)?["text"] as? String)
        #expect((full.json["usage"] as? [String: Any])?["completion_tokens"] as? Int == 40)
        // A stop string taken from the middle of the text: the reply ends just before its first occurrence.
        let chars = Array(text)
        try #require(chars.count >= 20, "the model wrote too little: \(text)")
        let stop = String(chars[12 ..< 16])
        let expected = String(text[..<text.range(of: stop)!.lowerBound])
        let escapedStop = String(data: try JSONSerialization.data(withJSONObject: [stop]), encoding: .utf8)!
        let cut = try await s.post("/v1/completions", base + #", "stop": \#(escapedStop)}"#)
        let cutChoice = try #require((cut.json["choices"] as? [[String: Any]])?.first)
        #expect(cutChoice["text"] as? String == expected)
        #expect(cutChoice["finish_reason"] as? String == "stop")
        let streamed = try await s.post("/v1/completions", base + #", "stop": \#(escapedStop), "stream": true}"#)
        let pieces = streamed.eventObjects.compactMap { (($0["choices"] as? [[String: Any]])?.first?["text"]) as? String }
        #expect(pieces.joined() == expected)
        #expect(streamed.events.last == "[DONE]")
        #expect(try await s.waitForActiveSlots(0))   // the stopped completions were cancelled in the scheduler
    }

    @Test("/metrics: Prometheus text with request, token, batching and queue counters")
    func metrics() async throws {
        let s = try await TestServer()
        defer { Task { await s.stop() } }
        #expect(try await s.post("/v1/chat/completions", chatBody("Hi", maxTokens: 4)).status == 200)
        _ = try await s.post("/v1/chat/completions", "{")
        let m = try await s.get("/metrics")
        #expect(m.status == 200)
        #expect(m.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/plain") })
        for needle in [#"moe_http_requests_total{endpoint="/v1/chat/completions",status="200"} 1"#,
                       #"moe_http_requests_total{endpoint="/v1/chat/completions",status="400"} 1"#,
                       "moe_prompt_tokens_total ", "moe_generated_tokens_total ", "moe_queue_depth 0", "moe_slots_active 0",
                       "moe_batch_rows_total ", "moe_batch_steps_total ", "moe_expert_runs_routed_total ", "moe_expert_runs_computed_total "] {
            #expect(m.body.contains(needle), "missing \(needle)")
        }
        let generated = m.body.split(separator: "\n").first { $0.hasPrefix("moe_generated_tokens_total ") }
        #expect(generated.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0 > 0)
    }
}
