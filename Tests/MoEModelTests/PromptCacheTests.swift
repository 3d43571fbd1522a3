import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import Testing

/// A conversation's next turn reuses the keys and values of the prefix it shares with the previous prompt and
/// reply, and still produces what a cold run produces.
struct PromptCacheTests {
    static let firstTurn = [5, 260, 17, 299, 42, 42, 101, 7, 288, 3, 150, 64, 9]

    /// Greedy reply of `count` tokens to `prompt` from a fresh state.
    static func cold(_ model: Model, _ prompt: [Int], count: Int, precision: ActivationPrecision) throws -> [Int] {
        let options = GenerationOptions(maxTokens: count, ignoreEOS: true, threads: 2, precision: precision)
        return try model.generate(promptIds: prompt, options: options).tokenIds
    }

    @Test("second turn: the shared prefix is reused and the reply equals a cold run's", arguments: TinyArch.allCases)
    func secondTurnEqualsColdRun(arch: TinyArch) throws {
        let fixture = try TinyFixture(arch)
        defer { withExtendedLifetime(fixture) {} }
        let model = try Model(path: fixture.gguf)
        for precision in [ActivationPrecision.f32, .q8] {
            let options = GenerationOptions(maxTokens: 6, ignoreEOS: true, threads: 2, precision: precision)
            let cache = PromptCache(state: InferenceState(config: model.config, contextLength: 64, maxBatch: 16, threads: 2, precision: precision))
            let first = try model.generate(promptIds: Self.firstTurn, options: options, cache: cache)
            #expect(first.stats.reusedPromptTokens == 0)
            #expect(first.tokenIds == (try Self.cold(model, Self.firstTurn, count: 6, precision: precision)))
            // The last reply token was sampled but never computed: the cache holds prompt + reply minus one.
            #expect(cache.tokens == Self.firstTurn + first.tokenIds.dropLast())

            // Next turn: the history (prompt + reply) and a new user message.
            let second = Self.firstTurn + first.tokenIds + [11, 12, 13, 14]
            let warm = try model.generate(promptIds: second, options: options, cache: cache)
            #expect(warm.stats.reusedPromptTokens == Self.firstTurn.count + first.tokenIds.count - 1)
            #expect(warm.tokenIds == (try Self.cold(model, second, count: 6, precision: precision)), "\(arch) \(precision)")

            // An edited history: only the common prefix is reused.
            var edited = second
            edited[4] = 77
            let branch = try model.generate(promptIds: edited, options: options, cache: cache)
            #expect(branch.stats.reusedPromptTokens == 4)
            #expect(branch.tokenIds == (try Self.cold(model, edited, count: 6, precision: precision)))

            // The same prompt again: all but its last token reused, the same reply.
            let again = try model.generate(promptIds: edited, options: options, cache: cache)
            #expect(again.stats.reusedPromptTokens == edited.count - 1)
            #expect(again.tokenIds == branch.tokenIds)

            cache.clear()
            #expect(cache.tokens.isEmpty && cache.state.position == 0)
        }
    }
}
