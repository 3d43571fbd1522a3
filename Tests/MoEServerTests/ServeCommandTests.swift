import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport

/// The `moe serve` binary: prints its URL when listening on a free port, answers, and exits 0 on SIGTERM.
@Suite(.serialized)
struct ServeCommandTests {
    @Test("moe serve --port 0 prints its URL, serves /health; SIGTERM lets a running stream finish, then exits 0")
    func binary() async throws {
        let moe = ToolBinary("moe")
        try #require(moe.built, "the moe binary is not built")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: moe.path)
        p.arguments = ["serve", "--model", root.appendingPathComponent("Weights/tiny-qwen3moe-Q8_0.gguf").path, "--port", "0",
                       "--parallel", "2", "--context", "2048", "--threads", "1"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        // The first stdout line: "moe serve: listening on http://127.0.0.1:PORT".
        let line = await withCheckedContinuation { (c: CheckedContinuation<String, Never>) in
            DispatchQueue.global().async {
                var data = Data()
                while !data.contains(UInt8(ascii: "\n")) {
                    let more = out.fileHandleForReading.availableData
                    if more.isEmpty { break }
                    data += more
                }
                c.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        let url = try #require(line.range(of: "http://").map { String(line[$0.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines) },
                               "no URL in \(line)")
        #expect(line.hasPrefix("moe serve: listening on http://127.0.0.1:"))
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/health"), timeout: .seconds(30))
        #expect(response.status.code == 200)
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(body.contains("\"slots\":2"))
        // A stream in flight when SIGTERM comes is finished (within the 10 s grace), not cut. The signal goes as soon
        // as the first chunk has arrived (the request is running); 300 tokens fit the grace even on a loaded machine.
        var request = HTTPClientRequest(url: url + "/v1/completions")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"prompt": "Once upon a time", "max_tokens": 300, "ignore_eos": true, "stream": true}"#))
        let streamResponse = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        var chunks = streamResponse.body.makeAsyncIterator()
        var streamed = ""
        if let first = try await chunks.next() { streamed += String(buffer: first) }
        #expect(!streamed.isEmpty, "the stream sent nothing")
        p.terminate()   // SIGTERM
        while let more = try await chunks.next() { streamed += String(buffer: more) }
        #expect(streamed.hasSuffix("data: [DONE]\n\n"))
        #expect(streamed.contains("\"finish_reason\":\"length\""))
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 0)
    }
}
