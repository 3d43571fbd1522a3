extension Tokenizer {
    /// Control tokens that end a chat reply in the families we run, as llama.cpp's vocabulary loader collects
    /// its end-of-generation set by token text (llama-vocab.cpp): end of turn, of message, of a tool call.
    static let endOfGenerationTexts = [
        "<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|endoftext|>", "<|end_of_text|>", "</s>", "<end_of_turn>",
        "<|return|>", "<|call|>", "<|end|>", "<｜end▁of▁sentence｜>", "<|user|>", "<|observation|>", "[e~[",
    ]

    /// The ids of `endOfGenerationTexts` in this vocabulary that are special tokens, plus the end-of-text id.
    /// gpt-oss's `<|end|>` ends a message inside a reply (its analysis channel, then the final one) when the
    /// vocabulary has `<|return|>`: there it is left out, as llama.cpp does.
    public var endOfGenerationIds: Set<Int> {
        var ids = Set(Self.endOfGenerationTexts.compactMap { tokenId($0) }.filter { isSpecial($0) })
        if let end = tokenId("<|end|>"), tokenId("<|return|>") != nil { ids.remove(end) }
        if let eos = eosTokenId { ids.insert(eos) }
        return ids
    }
}
