import Foundation
import MoEFormats
import MoEModel
import Testing

/// Issue 14's bar: the architectures people download (../shared/models/tiny-*, made by transformers itself),
/// from the safetensors folder and from llama.cpp's bf16 GGUF, on the f32 path: last-position logits within
/// 1e-3 of transformers', routing (chosen experts and mixing weights) equal, 32 greedy tokens equal.
@Suite(.enabled(if: ArchitectureGolden.available, "reference data ../shared/models/tiny-deepseek-v3 (round 2) is absent"))
struct ArchitectureGoldenTests {
    static let models = ["tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-glm4-moe", "tiny-ernie45-moe", "tiny-mixtral-spm", "tiny-gpt-oss"]
    /// Every model from its folder and from its bf16 GGUF.
    static let sources: [String] = models.flatMap { ["\($0)", "\($0)/\($0)-bf16.gguf"] }

    @Test("last-position logits within 1e-3 and routing equal to transformers", arguments: sources)
    func logitsAndRouting(source: String) throws {
        try Self.checkLogitsAndRouting(path: SharedData.root + "/models/" + source, source: source,
                                       golden: ArchitectureGolden.load(model: String(source.split(separator: "/")[0])))
    }

    /// The model at `path` (named `source` in messages) against `golden`'s last logits and routing.
    /// `routing: false` for goldens without routing (golden-MXFP4.json).
    static func checkLogitsAndRouting(path: String, source: String, golden: Golden, routing: Bool = true) throws {
        let model = try Model(path: path)
        let moeLayers = (0 ..< model.config.layerCount).filter(model.config.isMoELayer)
        for (pi, prompt) in golden.prompts.enumerated() {
            let state = InferenceState(config: model.config, contextLength: 128)
            state.routingLog = RoutingLog(layerCount: model.config.layerCount)
            let logits = Array(try model.forward(prompt.ids, state: state, logits: .last))
            #expect(logits.count == prompt.last_logits.count)
            let maxDiff = zip(logits, prompt.last_logits).map { abs($0 - $1) }.max() ?? .infinity
            #expect(maxDiff <= 1e-3, "\(source) prompt \(pi): max |logit diff| \(maxDiff)")
            let log = try #require(state.routingLog)
            guard routing else { continue }
            let refRouting = try #require(prompt.routing)
            #expect(refRouting.count == moeLayers.count, "\(source): \(moeLayers.count) MoE layers, golden has \(refRouting.count)")
            for (ordinal, ref) in refRouting.enumerated() where ordinal < moeLayers.count {
                let decisions = log.layers[moeLayers[ordinal]]
                #expect(decisions.count == ref.experts.count)
                for (t, decision) in decisions.enumerated() where t < ref.experts.count {
                    // torch.topk(sorted=False) gives no order: compare as expert → weight maps.
                    let ours = Dictionary(uniqueKeysWithValues: zip(decision.experts, decision.weights))
                    let theirs = Dictionary(uniqueKeysWithValues: zip(ref.experts[t], ref.probs[t]))
                    #expect(Set(ours.keys) == Set(theirs.keys),
                            "\(source) prompt \(pi) MoE layer \(ordinal) token \(t): experts \(decision.experts) vs \(ref.experts[t])")
                    for (e, p) in theirs {
                        if let q = ours[e] { #expect(abs(p - q) <= 1e-4, "\(source) prompt \(pi) MoE layer \(ordinal) token \(t) expert \(e): \(q) vs \(p)") }
                    }
                }
            }
        }
    }

    @Test("greedy 32 tokens equal transformers' greedy_ids", arguments: sources)
    func greedy(source: String) throws {
        try Self.checkGreedy(path: SharedData.root + "/models/" + source, source: source,
                             golden: ArchitectureGolden.load(model: String(source.split(separator: "/")[0])))
    }

    static func checkGreedy(path: String, source: String, golden: Golden) throws {
        let model = try Model(path: path)
        for (pi, prompt) in golden.prompts.enumerated() {
            let produced = try model.greedyIds(after: prompt.ids, count: prompt.greedy_ids.count)
            #expect(produced == prompt.greedy_ids, "\(source) prompt \(pi)")
        }
    }
}

extension ArchitectureGoldenTests {
    /// A sliding-window layer keeps a ring of window + maxBatch - 1 positions; small batches make it wrap many
    /// times within the 38 positions of a golden run. Prompts fed 3 tokens at a time (maxBatch 3: a ring of 10
    /// for tiny-gpt-oss's window of 8) and then one at a time must give transformers' tokens.
    @Test("gpt-oss: greedy tokens equal golden with the sliding-window ring wrapping (batches of 3)")
    func slidingWindowRing() throws {
        let model = try Model(path: SharedData.root + "/models/tiny-gpt-oss/tiny-gpt-oss-bf16.gguf")
        let golden = try ArchitectureGolden.load(model: "tiny-gpt-oss")
        for (pi, prompt) in golden.prompts.enumerated() {
            let state = InferenceState(config: model.config, contextLength: 64, maxBatch: 3)
            var logits = Array(try model.forward(prompt.ids, state: state, logits: .last))
            var produced: [Int] = []
            for _ in 0 ..< prompt.greedy_ids.count {
                let next = logits.indices.max { logits[$0] < logits[$1] }!
                produced.append(next)
                logits = Array(try model.forward([next], state: state, logits: .last))
            }
            #expect(produced == prompt.greedy_ids, "prompt \(pi)")
        }
    }
}

/// golden.json of the round-2 checkpoints (the same fields as the Qwen3-MoE golden, `routing` per MoE layer).
enum ArchitectureGolden {
    static var available: Bool { FileManager.default.fileExists(atPath: SharedData.root + "/models/tiny-deepseek-v3/golden.json") }

    static func load(model: String, file: String = "golden.json") throws -> Golden {
        let path = SharedData.root + "/models/\(model)/\(file)"
        let data = try #require(FileManager.default.contents(atPath: path), "\(path) is missing")
        return try JSONDecoder().decode(Golden.self, from: data)
    }
}

extension ArchitectureGoldenTests {
    /// A prompt cache over sliding-window layers (a ring of window 8 + batch 3 - 1 = 10 rows): a turn that
    /// extends the held tokens reuses them all; one that would step back further than the ring's spare rows
    /// reuses nothing. The reply equals transformers' greedy tokens either way.
    @Test("gpt-oss: a prompt cache reuses only what the sliding-window ring still holds; tokens equal golden")
    func promptCacheWithSlidingWindow() throws {
        let model = try Model(path: SharedData.root + "/models/tiny-gpt-oss/tiny-gpt-oss-bf16.gguf")
        let golden = try ArchitectureGolden.load(model: "tiny-gpt-oss")
        let options = GenerationOptions(maxTokens: 4, ignoreEOS: true, threads: 2, precision: .f32)
        for prompt in golden.prompts {
            let ids = prompt.ids + prompt.greedy_ids
            let cache = PromptCache(state: InferenceState(config: model.config, contextLength: 64, maxBatch: 3, threads: 2))
            // Turn 1: the prompt; turn 2: the prompt with its first 12 golden tokens; the ring (10 rows) has
            // wrapped by then, so it can step back at most 2 positions from where turn 1 left it.
            _ = try model.generate(promptIds: prompt.ids, options: options, cache: cache)
            let left = cache.state.position
            let turn2 = Array(ids.prefix(prompt.ids.count + 12))
            let reply = try model.generate(promptIds: turn2, options: options, cache: cache)
            #expect(reply.stats.reusedPromptTokens == left)   // turn 1's prompt and 3 computed reply tokens
            #expect(reply.tokenIds == Array(prompt.greedy_ids[12 ..< 16]))
            // The same prompt again would step back 4 positions (3 reply tokens and the prompt's last): more
            // than the ring's 2 spare rows, so nothing is reused, and the reply is the same.
            let again = try model.generate(promptIds: turn2, options: options, cache: cache)
            #expect(again.stats.reusedPromptTokens == 0)
            #expect(again.tokenIds == reply.tokenIds)
        }
    }
}

extension ArchitectureGoldenTests {
    /// Continuous batching as the server does it: every golden prompt of a model decodes in one batch per step
    /// (its own KV cache each; gpt-oss's sliding-window rings, DeepSeek's latent caches), the prompts prefilled
    /// in chunks of 5 rows sharing batches with the others' one-token steps. Greedy tokens equal transformers'.
    @Test("several sequences decoding in one batch per step give each prompt's golden greedy tokens", arguments: models)
    func batchedSequencesGreedy(model name: String) throws {
        let model = try Model(path: SharedData.root + "/models/\(name)/\(name)-bf16.gguf")
        let golden = try ArchitectureGolden.load(model: name)
        let c = model.config
        let prompts = golden.prompts
        let states = prompts.map { _ in InferenceState(config: c, contextLength: 96, maxBatch: 5, threads: 2) }
        let scratch = InferenceState(config: c, contextLength: 96, maxBatch: 64, logitRows: 64, threads: 2)
        var fed = prompts.map { _ in 0 }                  // prompt tokens fed so far
        var produced: [[Int]] = prompts.map { _ in [] }
        var pending: [Int?] = prompts.map { _ in nil }    // the last chosen token, to feed next step
        while zip(produced, prompts).contains(where: { $0.count < $1.greedy_ids.count }) {
            var batch: [(token: Int, sequence: InferenceState)] = []
            var owner: [Int] = []
            for (i, p) in prompts.enumerated() where produced[i].count < p.greedy_ids.count {
                if fed[i] < p.ids.count {
                    // Sequence i staggers its prefill: i % 5 + 1 tokens on the first step, then 5 at a time.
                    let chunk = p.ids[fed[i] ..< min(p.ids.count, fed[i] + (fed[i] == 0 ? i % 5 + 1 : 5))]
                    for t in chunk { batch.append((t, states[i])); owner.append(i) }
                    fed[i] += chunk.count
                } else if let t = pending[i] {
                    batch.append((t, states[i])); owner.append(i)
                }
            }
            let logits = try model.forward(batch: batch, scratch: scratch)
            for (r, i) in owner.enumerated() where r == owner.count - 1 || owner[r + 1] != i {
                guard fed[i] == prompts[i].ids.count else { continue }   // still inside its prompt
                let row = UnsafeBufferPointer(rebasing: logits[r * c.vocabSize ..< (r + 1) * c.vocabSize])
                let next = row.indices.max { row[$0] < row[$1] }!
                produced[i].append(next)
                pending[i] = next
            }
        }
        for (i, p) in prompts.enumerated() { #expect(produced[i] == p.greedy_ids, "\(name) prompt \(i)") }
    }
}
