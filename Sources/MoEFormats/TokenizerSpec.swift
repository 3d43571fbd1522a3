/// What a tokenizer needs, whatever file it came from (`tokenizer.json`, SentencePiece `tokenizer.model`
/// or GGUF `tokenizer.ggml.*`). Parsing lives here; encoding and decoding live in MoETokenizer.
/// Byte-level BPE (GPT-2 family) is the default kind; SentencePiece vocabularies also carry `kind`,
/// `scores` and `tokenTypes` (TokenizerSpec+SentencePiece.swift).
public struct TokenizerSpec: Sendable {
    /// Token id → token string, in GPT-2 byte-level form (bytes mapped to printable code points, e.g. "Ġ" = space);
    /// SentencePiece tokens are spelled as text with "▁" for a space, and `<0xXX>` for byte tokens.
    public var tokens: [String]
    /// Merge rules in priority order (rank 0 first): each is the pair of token strings to merge.
    public var merges: [(String, String)]
    /// Added tokens matched in raw text before pre-tokenization (e.g. "<|endoftext|>"), by id.
    public var addedTokens: [AddedToken]
    /// Normalizers and split steps, from tokenizer.json or from the GGUF `tokenizer.ggml.pre` name.
    public var preTokenizer: PreTokenizerSpec
    /// A piece that is itself a vocabulary entry becomes that token without merges (Llama 3, GLM-4).
    public var ignoreMerges: Bool
    public var eosTokenId: Int?
    public var bosTokenId: Int?
    public var addBosToken: Bool
    /// Which algorithm the vocabulary is for. SentencePiece specs take the whole text as one piece (`PreTokenizerSpec.wholeText`).
    public var kind: TokenizerKind = .byteLevelBPE
    /// SentencePiece only: each token's score (higher merges first) and type; empty for byte-level BPE.
    public var scores: [Float] = []
    public var tokenTypes: [TokenType] = []

    public init(tokens: [String], merges: [(String, String)], addedTokens: [AddedToken],
                preTokenizer: PreTokenizerSpec, ignoreMerges: Bool = false,
                eosTokenId: Int?, bosTokenId: Int?, addBosToken: Bool) {
        self.tokens = tokens
        self.merges = merges
        self.addedTokens = addedTokens
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        self.eosTokenId = eosTokenId
        self.bosTokenId = bosTokenId
        self.addBosToken = addBosToken
    }
}
