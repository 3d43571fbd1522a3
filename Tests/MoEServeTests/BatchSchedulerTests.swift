import Foundation
import MoEKernels
import MoEModel
import MoEServe
import Testing
import TestSupport

/// The scheduler's completions equal plain generation, however many run together and whatever they share.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct BatchSchedulerTests {
    static let model: Model? = SharedData.tiny.flatMap { try? Model(path: $0 + "/tiny-qwen3moe-bf16.gguf") }
    static let prompts = ["In the beginning God created", "def fibonacci(n):", "Der Himmel ist", "The quick brown fox",
                          "int main(void) {", "Once upon a time"]

    /// Collects a completion's tokens and summary.
    static func collect(_ stream: AsyncStream<CompletionEvent>) async -> (ids: [Int], text: String, summary: CompletionSummary?, admittedReused: Int?) {
        var ids: [Int] = [], text = "", summary: CompletionSummary?, admitted: Int?
        for await event in stream {
            switch event {
            case let .admitted(reused): admitted = reused
            case let .token(id, piece): if id >= 0 { ids.append(id) }; text += piece
            case let .finished(s): summary = s
            }
        }
        return (ids, text, summary, admitted)
    }

    @Test("six concurrent completions on 4 slots equal plain greedy generation, token for token")
    func concurrentEqualsAlone() async throws {
        let model = try #require(Self.model)
        let scheduler = BatchScheduler(model: model, slots: 4, contextLength: 128, threads: 2, precision: .q8, prefillChunk: 4)
        defer { scheduler.shutdown(cancel: true) }
        let requests = Self.prompts.map { CompletionRequest(promptIds: model.tokenizer.encodePrompt($0), maxTokens: 12, ignoreEOS: true) }
        let streams = try requests.map { try scheduler.submit($0) }
        var results: [(ids: [Int], text: String, summary: CompletionSummary?, admittedReused: Int?)] = []
        for s in streams { results.append(await Self.collect(s)) }
        for (r, request) in zip(results, requests) {
            let alone = try model.generate(promptIds: request.promptIds, options: GenerationOptions(maxTokens: 12, ignoreEOS: true, threads: 2, precision: .q8))
            #expect(r.ids == alone.tokenIds)
            #expect(r.summary?.generatedTokens == 12)
            #expect(r.summary?.stopReason == "max_tokens")
        }
        let snapshot = scheduler.snapshot()
        #expect(snapshot.requestsCompleted == 6)
        #expect(snapshot.rows > snapshot.steps)                         // batches of several rows
        #expect(snapshot.expertsComputed < snapshot.expertsRouted)      // shared expert runs
    }

    @Test("a request repeating an earlier prompt reuses the slot that holds it")
    func prefixReuse() async throws {
        let model = try #require(Self.model)
        let scheduler = BatchScheduler(model: model, slots: 2, contextLength: 128, threads: 2, precision: .q8)
        defer { scheduler.shutdown(cancel: true) }
        let prompt = model.tokenizer.encodePrompt("In the beginning God created the heaven and the earth.")
        let first = await Self.collect(try scheduler.submit(CompletionRequest(promptIds: prompt, maxTokens: 6, ignoreEOS: true)))
        let second = await Self.collect(try scheduler.submit(CompletionRequest(promptIds: prompt + first.ids, maxTokens: 6, ignoreEOS: true)))
        #expect(first.summary?.reusedPromptTokens == 0)
        #expect(second.summary?.reusedPromptTokens == prompt.count + first.ids.count - 1)
        #expect(second.admittedReused == second.summary?.reusedPromptTokens)   // told at admission, before any token
        #expect(second.summary?.slot == first.summary?.slot)
        let alone = try model.generate(promptIds: prompt + first.ids, options: GenerationOptions(maxTokens: 6, ignoreEOS: true, threads: 2, precision: .q8))
        #expect(second.ids == alone.tokenIds)
    }

    @Test("a consumer that stops listening cancels its completion and frees the slot")
    func cancellation() async throws {
        let model = try #require(Self.model)
        let scheduler = BatchScheduler(model: model, slots: 1, contextLength: 256, threads: 2, precision: .q8, queueLimit: 1)
        defer { scheduler.shutdown(cancel: true) }
        let prompt = model.tokenizer.encodePrompt("Once upon a time")
        do {
            let stream = try scheduler.submit(CompletionRequest(promptIds: prompt, maxTokens: 200, ignoreEOS: true))
            for await event in stream { if case .token = event { break } }   // drop the stream after one token
        }
        // The slot frees: a new request completes.
        let next = await Self.collect(try scheduler.submit(CompletionRequest(promptIds: prompt, maxTokens: 3, ignoreEOS: true)))
        #expect(next.summary?.generatedTokens == 3)
    }

    @Test("full slots and queue: refused with .busy, not queued without bound; bad requests refused")
    func busyAndInvalid() async throws {
        let model = try #require(Self.model)
        let scheduler = BatchScheduler(model: model, slots: 1, contextLength: 64, threads: 2, precision: .q8, queueLimit: 1)
        defer { scheduler.shutdown(cancel: true) }
        let prompt = model.tokenizer.encodePrompt("Once upon a time")
        let request = CompletionRequest(promptIds: prompt, maxTokens: 40, ignoreEOS: true)
        let a = try scheduler.submit(request), b = try scheduler.submit(request)
        var refused = 0
        for _ in 0 ..< 3 { do { _ = try scheduler.submit(request) } catch SchedulerError.busy { refused += 1 } }
        #expect(refused >= 2)
        #expect(throws: SchedulerError.self) { try scheduler.submit(CompletionRequest(promptIds: prompt, maxTokens: 1000)) }
        #expect(throws: SchedulerError.self) { try scheduler.submit(CompletionRequest(promptIds: [], maxTokens: 1)) }
        #expect(throws: SchedulerError.self) { try scheduler.submit(CompletionRequest(promptIds: [1 << 30], maxTokens: 1)) }
        _ = await Self.collect(a)
        _ = await Self.collect(b)
    }

    @Test("a JSON-object completion: every prefix valid, a whole object when it ends; greedy picks the best valid token")
    func jsonObject() async throws {
        let model = try #require(Self.model)
        let scheduler = BatchScheduler(model: model, slots: 2, contextLength: 256, threads: 2, precision: .q8)
        defer { scheduler.shutdown(cancel: true) }
        let prompt = model.tokenizer.encodePrompt("Answer in JSON: the capital of France is")
        for sampling in [SamplingOptions(), SamplingOptions(temperature: 1, topK: 40, seed: 5)] {
            let r = await Self.collect(try scheduler.submit(CompletionRequest(promptIds: prompt, maxTokens: 120, sampling: sampling, jsonObject: true)))
            var prefix = JSONPrefix()
            let valid = prefix.feed(Array(r.text.utf8))
            #expect(valid, "not a JSON prefix: \(r.text)")
            #expect(r.text.drop { $0 == " " || $0 == "\n" }.first == "{")
            let summary = try #require(r.summary)
            #expect(summary.stopReason == "eos" || summary.stopReason == "max_tokens")
            if summary.stopReason == "eos" {
                #expect(prefix.isComplete)
                #expect((try? JSONSerialization.jsonObject(with: Data(r.text.utf8))) is [String: Any], "\(r.text)")
            }
        }
        // Greedy: each token is the most likely of those the grammar allows (checked against the model alone).
        let r = await Self.collect(try scheduler.submit(CompletionRequest(promptIds: prompt, maxTokens: 8, jsonObject: true)))
        let state = InferenceState(config: model.config, contextLength: 256, maxBatch: 64, threads: 2, precision: .q8)
        var prefix = JSONPrefix(), ids = prompt
        for expected in r.ids {
            let logits = try model.forward(Array(ids[state.position...]), state: state)
            let best = (0 ..< model.config.vocabSize).filter { id in
                var p = prefix
                let bytes = model.tokenizer.decodeBytes([id])
                return !model.tokenizer.isSpecial(id) && !bytes.isEmpty && p.feed(bytes)
            }.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }
            #expect(expected == best)
            _ = prefix.feed(model.tokenizer.decodeBytes([expected]))
            ids.append(expected)
        }
    }
}
