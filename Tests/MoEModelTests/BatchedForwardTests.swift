import Foundation
import MoEKernels
import MoEModel
import Testing

/// Several sequences in one forward call (the server's continuous batching): each row's logits equal those
/// of the same tokens run in their own sequence alone, whatever else shares the batch.
struct BatchedForwardTests {
    static let prompts = [[5, 260, 17, 299, 42, 42, 101], [7, 288, 3], [150, 64, 9, 11, 12, 13, 14, 15, 16]]

    @Test("a batch of three sequences (one-token steps and a prompt chunk) equals each run alone",
          arguments: TinyArch.allCases, [ActivationPrecision.f32, .q8])
    func batchEqualsSeparateRuns(arch: TinyArch, precision: ActivationPrecision) throws {
        let fixture = try TinyFixture(arch)
        defer { withExtendedLifetime(fixture) {} }
        let model = try Model(path: fixture.gguf)
        let c = model.config
        func fresh() -> InferenceState {
            InferenceState(config: c, contextLength: 48, maxBatch: 8, logitRows: 8, threads: 2, precision: precision)
        }
        let batched = Self.prompts.map { _ in fresh() }
        let alone = Self.prompts.map { _ in fresh() }
        for (i, p) in Self.prompts.enumerated() {
            try model.forward(p, state: batched[i], logits: .none)
            try model.forward(p, state: alone[i], logits: .none)
        }
        let scratch = InferenceState(config: c, contextLength: 48, maxBatch: 16, logitRows: 16, threads: 2, precision: precision)
        // Step 1: one token for sequence 0, a chunk of three for 1, one for 2. Step 2: one token each.
        let steps: [[(Int, Int)]] = [[(0, 33), (1, 34), (1, 35), (1, 36), (2, 37)], [(0, 40), (1, 41), (2, 42)]]
        for step in steps {
            let logits = Array(try model.forward(batch: step.map { (token: $0.1, sequence: batched[$0.0]) }, scratch: scratch))
            #expect(logits.count == step.count * c.vocabSize)
            // The reference: each sequence's rows alone, all logits.
            var expected: [[Float]] = []
            var i = 0
            while i < step.count {
                let seq = step[i].0
                var tokens: [Int] = []
                while i < step.count, step[i].0 == seq { tokens.append(step[i].1); i += 1 }
                let state = alone[seq]
                let out = Array(try model.forward(tokens, state: state, logits: .all))
                for r in 0 ..< tokens.count { expected.append(Array(out[r * c.vocabSize ..< (r + 1) * c.vocabSize])) }
            }
            for (r, row) in expected.enumerated() {
                let got = Array(logits[r * c.vocabSize ..< (r + 1) * c.vocabSize])
                let diff = zip(got, row).map { abs($0 - $1) }.max()!
                #expect(diff <= 1e-4, "\(arch) \(precision) row \(r): max difference \(diff)")
            }
        }
        for (i, p) in Self.prompts.enumerated() {
            #expect(batched[i].position == p.count + (i == 1 ? 4 : 2))
            #expect(batched[i].position == alone[i].position)
        }
    }

    @Test("a sequence's rows must fit its context: full context is an error, not a crash")
    func contextFull() throws {
        let fixture = try TinyFixture(.qwen3_moe)
        defer { withExtendedLifetime(fixture) {} }
        let model = try Model(path: fixture.gguf)
        let a = InferenceState(config: model.config, contextLength: 4, maxBatch: 4)
        let scratch = InferenceState(config: model.config, contextLength: 4, maxBatch: 8, logitRows: 8)
        try model.forward([1, 2, 3], state: a, logits: .none)
        #expect(throws: InferenceError.self) {
            try model.forward(batch: [(token: 4, sequence: a), (token: 5, sequence: a)], scratch: scratch)
        }
        #expect(a.position == 3)
    }
}

/// A step that needs tokens from some rows only computes their logits, and they are those rows' logits of the
/// whole batch, bit for bit.
struct BatchedLogitRowsTests {
    @Test(arguments: [ActivationPrecision.f32, .q8])
    func chosenRowsEqualAllRows(precision: ActivationPrecision) throws {
        let fixture = try TinyFixture(.qwen3_moe)
        defer { withExtendedLifetime(fixture) {} }
        let model = try Model(path: fixture.gguf)
        let c = model.config, v = model.config.vocabSize
        /// Sequence a (3 tokens read) and a fresh b, then one batch: a's next token, a 3-token chunk of b, a's…
        func step(_ rows: [Int]?) throws -> [Float] {
            let a = InferenceState(config: c, contextLength: 32, maxBatch: 8, threads: 2, precision: precision)
            let b = InferenceState(config: c, contextLength: 32, maxBatch: 8, threads: 2, precision: precision)
            try model.forward([5, 260, 17], state: a, logits: .none)
            let scratch = InferenceState(config: c, contextLength: 32, maxBatch: 8, logitRows: 8, threads: 2, precision: precision)
            let batch = [(token: 33, sequence: a), (token: 34, sequence: b), (token: 35, sequence: b), (token: 36, sequence: b), (token: 40, sequence: b)]
            return Array(try model.forward(batch: batch, scratch: scratch, logitRows: rows))
        }
        let all = try step(nil), chosen = [0, 3, 4]
        let some = try step(chosen)
        #expect(all.count == 5 * v && some.count == chosen.count * v)
        for (k, r) in chosen.enumerated() {
            #expect(some[k * v ..< (k + 1) * v].map(\.bitPattern) == all[r * v ..< (r + 1) * v].map(\.bitPattern), "\(precision) row \(r)")
        }
        let s = InferenceState(config: c, contextLength: 32, maxBatch: 8, logitRows: 8)
        let scratch = InferenceState(config: c, contextLength: 32, maxBatch: 8, logitRows: 8)
        #expect(throws: InferenceError.self) { try model.forward(batch: [(token: 1, sequence: s), (token: 2, sequence: s)], scratch: scratch, logitRows: [1, 0]) }
        #expect(s.position == 0)
    }
}
