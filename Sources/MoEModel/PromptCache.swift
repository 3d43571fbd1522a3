/// An inference state together with the tokens whose keys and values it holds, so that a prompt which starts
/// with the same tokens — the next turn of a conversation, whose history is the last prompt plus the reply —
/// computes only the tokens after the common prefix (llama-server's `cache_prompt`). The output is the same
/// as a cold run's: the reused rows are the ones the cold run would compute, and the forward pass does not
/// depend on how tokens are batched.
public final class PromptCache {
    public let state: InferenceState
    /// The tokens at positions 0 ..< state.position, in order.
    public private(set) var tokens: [Int] = []

    /// `state` must be fresh or hold exactly `tokens`.
    public init(state: InferenceState, tokens: [Int] = []) {
        precondition(tokens.count == state.position, "PromptCache: \(tokens.count) tokens for a state at position \(state.position)")
        self.state = state
        self.tokens = tokens
    }

    /// Rewinds the state to the longest common prefix of the held tokens and `prompt` that it can return to,
    /// keeping at least one prompt token to compute (its logits begin the reply). Returns the reused count.
    public func reuse(for prompt: [Int]) -> Int {
        var common = commonPrefix(with: prompt)
        while common > 0, !state.canRewind(to: common) { common -= 1 }   // a sliding-window ring that moved on
        if !state.rewind(to: common) { state.reset(); common = 0 }
        tokens.removeSubrange(common...)
        return common
    }

    /// The length of the common prefix of the held tokens and `prompt` (what `reuse` would keep, before the
    /// sliding-window limit): for choosing, among several caches, the one a prompt reuses most of.
    public func commonPrefix(with prompt: [Int]) -> Int {
        var common = 0
        let limit = min(tokens.count, prompt.count - 1)
        while common < limit, tokens[common] == prompt[common] { common += 1 }
        return common
    }

    /// Records tokens that a forward call has just appended to the state.
    public func appended<C: Collection<Int>>(_ ids: C) {
        tokens.append(contentsOf: ids)
        assert(tokens.count == state.position)
    }

    /// Forgets everything held.
    public func clear() {
        state.reset()
        tokens.removeAll()
    }
}
