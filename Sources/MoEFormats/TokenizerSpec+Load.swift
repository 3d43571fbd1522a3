// TEMPORARY stub until the tokenizer branch lands.
extension TokenizerSpec {
    public init(tokenizerJSON path: String) throws { self.init(tokens: [], merges: [], addedTokens: [], preTokenizerPattern: "", eosTokenId: 0, bosTokenId: nil, addBosToken: false) }
    public init(gguf: GGUFFile) throws { self.init(tokens: [], merges: [], addedTokens: [], preTokenizerPattern: "", eosTokenId: 0, bosTokenId: nil, addBosToken: false) }
}
