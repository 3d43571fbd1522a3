import Foundation
import MoEModel
import Testing

/// The KV cache makes incremental decoding equal to running the whole prompt at once.
struct KVCacheTests {
    static let prompt = [5, 260, 17, 299, 42, 42, 101, 7, 288, 3, 150, 64, 9]

    @Test("all at once, token by token, in chunks and in small batches give the same last logits",
          arguments: TinyArch.allCases)
    func incrementalMatchesBatch(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        for path in [fixture.folder, fixture.gguf] {
            let model = try Model(path: path)
            let c = model.config
            let whole = InferenceState(config: c, contextLength: 32)
            let reference = Array(try model.forward(Self.prompt, state: whole))
            #expect(whole.position == Self.prompt.count)

            let stepwise = InferenceState(config: c, contextLength: 32)
            var last: [Float] = []
            for t in Self.prompt { last = Array(try model.forward([t], state: stepwise)) }
            #expect(stepwise.position == Self.prompt.count)
            #expect(ArchitectureTests.maxDifference(last, reference) <= 1e-5, "\(arch) token by token")

            let chunked = InferenceState(config: c, contextLength: 32)
            try model.forward(Array(Self.prompt[0 ..< 5]), state: chunked, logits: .none)
            try model.forward(Array(Self.prompt[5 ..< 6]), state: chunked, logits: .none)
            last = Array(try model.forward(Array(Self.prompt[6...]), state: chunked))
            #expect(ArchitectureTests.maxDifference(last, reference) <= 1e-5, "\(arch) chunks")

            let small = InferenceState(config: c, contextLength: 32, maxBatch: 4)
            last = Array(try model.forward(Self.prompt, state: small))
            #expect(ArchitectureTests.maxDifference(last, reference) <= 1e-5, "\(arch) maxBatch 4")

            // A reset state starts over.
            whole.reset()
            last = Array(try model.forward(Self.prompt, state: whole))
            #expect(ArchitectureTests.maxDifference(last, reference) <= 1e-6, "\(arch) after reset")
        }
    }

    @Test("each row of all-position logits equals the last logits of that prefix (causal masking)",
          arguments: TinyArch.allCases)
    func allPositionsAreCausal(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        let model = try Model(path: fixture.folder)
        let v = model.config.vocabSize
        let state = InferenceState(config: model.config, contextLength: 32, logitRows: 32)
        let all = Array(try model.forward(Self.prompt, state: state, logits: .all))
        #expect(all.count == Self.prompt.count * v)
        for n in [1, 4, Self.prompt.count] {
            let prefix = InferenceState(config: model.config, contextLength: 32)
            let last = Array(try model.forward(Array(Self.prompt.prefix(n)), state: prefix))
            let row = Array(all[(n - 1) * v ..< n * v])
            #expect(ArchitectureTests.maxDifference(row, last) <= 1e-5, "\(arch) prefix \(n)")
        }
    }

    @Test("running past the context or outside the vocabulary is an error, not a crash")
    func inferenceErrors() throws {
        let fixture = try TinyFixture(.olmoe)
        let model = try Model(path: fixture.folder)
        let state = InferenceState(config: model.config, contextLength: 4)
        #expect(throws: InferenceError.contextFull(position: 0, tokens: 5, contextLength: 4)) {
            try model.forward([1, 2, 3, 4, 5], state: state)
        }
        #expect(throws: InferenceError.tokenOutOfRange(id: 300, vocabSize: 300)) { try model.forward([300], state: state) }
        #expect(throws: InferenceError.emptyInput) { try model.forward([], state: state) }
        #expect(state.position == 0)
    }
}
