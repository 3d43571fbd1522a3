import Foundation
import MoEModel
import Testing

/// The bar of issue 2: exact agreement with Hugging Face transformers on the real tiny Qwen3-MoE,
/// loaded from the safetensors folder and from llama.cpp's bf16 GGUF.
@Suite(.enabled(if: SharedData.available, SharedData.skipMessage))
struct GoldenTests {
    static let sources = ["", "/tiny-qwen3moe-bf16.gguf"]

    @Test("last-position logits within 1e-3 and routing equal to transformers", arguments: sources)
    func logitsAndRouting(source: String) throws {
        let model = try Model(path: SharedData.tiny + source)
        let golden = try #require(Golden.shared)
        for (pi, prompt) in golden.prompts.enumerated() {
            let state = InferenceState(config: model.config, contextLength: 128)
            state.routingLog = RoutingLog(layerCount: model.config.layerCount)
            let logits = Array(try model.forward(prompt.ids, state: state, logits: .last))
            #expect(logits.count == prompt.last_logits.count)
            let maxDiff = zip(logits, prompt.last_logits).map { abs($0 - $1) }.max() ?? .infinity
            #expect(maxDiff <= 1e-3, "prompt \(pi): max |logit diff| \(maxDiff)")
            let log = try #require(state.routingLog)
            for (l, ref) in try #require(prompt.routing).enumerated() {
                #expect(log.layers[l].count == ref.experts.count)
                for (t, decision) in log.layers[l].enumerated() {
                    let ours = Dictionary(uniqueKeysWithValues: zip(decision.experts, decision.weights))
                    let theirs = Dictionary(uniqueKeysWithValues: zip(ref.experts[t], ref.probs[t]))
                    #expect(Set(ours.keys) == Set(theirs.keys), "prompt \(pi) layer \(l) token \(t): experts \(decision.experts) vs \(ref.experts[t])")
                    for (e, p) in theirs {
                        if let q = ours[e] { #expect(abs(p - q) <= 1e-4, "prompt \(pi) layer \(l) token \(t) expert \(e): \(q) vs \(p)") }
                    }
                }
            }
        }
    }

    @Test("greedy 48 tokens equal transformers' greedy_ids", arguments: sources)
    func greedy(source: String) throws {
        let model = try Model(path: SharedData.tiny + source)
        let golden = try #require(Golden.shared)
        for (pi, prompt) in golden.prompts.enumerated() {
            let produced = try model.greedyIds(after: prompt.ids, count: prompt.greedy_ids.count)
            #expect(produced == prompt.greedy_ids, "prompt \(pi)")
        }
    }
}
