import Foundation
import MoEKernels
import MoEModel
import Testing

/// Output never depends on the number of threads: rows are split in whole row blocks and expert outputs
/// are summed in a fixed order, so the logits are equal bit for bit.
@Suite(.enabled(if: SharedData.available, SharedData.skipMessage))
struct ThreadCountTests {
    @Test("prefill and decode logits are identical with 1 and with all threads",
          arguments: ["/tiny-qwen3moe-Q8_0.gguf", "/tiny-qwen3moe-bf16.gguf"])
    func threadsDoNotChangeLogits(file: String) throws {
        let model = try Model(path: SharedData.tiny + file)
        let golden = try #require(Golden.shared)
        let prompt = golden.prompts.flatMap(\.ids).prefix(100).map { $0 }
        var results: [[Float]] = []
        for threads in [1, ThreadPool.maxThreads] {
            let state = InferenceState(config: model.config, contextLength: 128, logitRows: 128, threads: threads)
            var logits = Array(try model.forward(prompt, state: state, logits: .all))
            for t in [11, 12, 13] { logits += Array(try model.forward([t], state: state)) }
            results.append(logits)
        }
        #expect(results[0] == results[1])
    }
}
