// Raw-UTF-8 BPE from GGUF: `tokenizer.ggml.model = gemma4` (Gemma 4), or model `gpt2` whose `pre` names one of
// llama.cpp's raw-UTF-8 pre-tokenizers (`gemma4`, `granite-embed-multi-311m`, `sarvam-moe`). Read as llama.cpp
// reads them (src/llama-vocab.cpp): a BPE vocabulary (LLAMA_VOCAB_TYPE_BPE) with `byte_encode = false`, so
// tokens spell UTF-8 text itself, with ▁ for a space, rather than GPT-2's byte-to-character table:
// - `escape_whitespaces`: every space of a text between special tokens becomes ▁; no ▁ is put in front.
// - the pre-tokenizer regex `[^\n]+|[\n]+` cuts the text into runs of newlines and runs of everything else;
//   each run is merged on its own: symbols are its UTF-8 characters, merges by rank (`tokenizer.ggml.merges`).
// - gemma-4 only (llama.cpp PR 21343): a run of newlines that is itself a token is taken whole.
// - a final symbol that is no token becomes one `<0xXX>` token per byte (tokens without one are dropped).
// - input that is not UTF-8 reaches the merges with one U+FFFD per bad byte (llama.cpp's regex split decodes
//   the text to code points and back).
// - gemma-4 only: BOS is added even when `add_bos_token` is false (llama.cpp overrides it, PR 21500).
// - decoding: ▁ → space, byte tokens their byte, control tokens nothing, user-defined tokens as written.
// The encoder is SentencePieceEncoder's rank merging (`.byRank`), the same one Hugging Face BPE with byte
// fallback uses; what differs is set in SentencePieceOptions.

extension TokenizerSpec {
    /// The `tokenizer.ggml.pre` names llama.cpp runs as raw-UTF-8 BPE, and whether each takes a newline run
    /// that is a token whole and forces BOS (both gemma-4's pre-tokenizer type only).
    static let rawUTF8BPENames: [String: (newlineRunsWhole: Bool, forcesBos: Bool)] = [
        "gemma4": (true, true), "granite-embed-multi-311m": (true, true), "sarvam-moe": (false, false),
    ]

    /// A raw-UTF-8 BPE spec from `tokenizer.ggml.*`. `pre` is one of `rawUTF8BPENames`.
    static func rawUTF8BPE(gguf: GGUFFile, pre: String) throws -> TokenizerSpec {
        let path = gguf.path
        let meta = gguf.metadata
        guard let flavour = rawUTF8BPENames[pre] else {
            throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote(pre)) is not a raw-UTF-8 BPE one")
        }
        func strings(_ key: String) throws -> [String] {
            guard let list = meta[key]?.array else { throw FormatError.malformed(path: path, what: "no \(key) array") }
            return try list.enumerated().map { index, value in
                guard let s = value.string else { throw FormatError.malformed(path: path, what: "\(key)[\(index)] is not a string") }
                return s
            }
        }
        // llama.cpp names an empty token "[EMPTY_<id>]", which can never match text; so do we.
        let tokens = try strings("tokenizer.ggml.tokens").enumerated().map { id, s in s.isEmpty ? "[EMPTY_\(id)]" : s }
        guard !tokens.isEmpty else { throw FormatError.malformed(path: path, what: "tokenizer.ggml.tokens is empty") }
        // llama.cpp cuts a merge at its first space after the first byte; tokens hold ▁, never a space, so
        // "a b" with exactly one space is the only form a real file has.
        let merges = try strings("tokenizer.ggml.merges").enumerated().map { index, text in
            guard let pair = Self.splitMerge(text) else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.merges[\(index)] is not an 'a b' string")
            }
            return pair
        }
        var types = [TokenType](repeating: .normal, count: tokens.count)
        if let values = meta["tokenizer.ggml.token_type"]?.array {
            guard values.count == tokens.count else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.token_type has \(values.count) entries for \(tokens.count) tokens")
            }
            for (id, value) in values.enumerated() {
                guard let raw = value.int, let type = TokenType(rawValue: raw) else {
                    throw FormatError.malformed(path: path, what: "tokenizer.ggml.token_type[\(id)] is \(value.int.map(String.init) ?? "not an integer") (known: 0 to 6)")
                }
                types[id] = type
            }
        }
        try checkByteTokens(tokens, types, path: path)
        // llama.cpp's end-of-generation markers are control tokens whatever the file says (as for SentencePiece).
        for (id, token) in tokens.enumerated() where llamaCppControlLooking.contains(token) { types[id] = .control }

        // No default ids: llama.cpp reads them from the file (LLAMA_TOKEN_NULL otherwise).
        func tokenId(_ key: String) throws -> Int? {
            guard let value = meta[key] else { return nil }
            guard let id = value.int, id >= 0, id < tokens.count else {
                throw FormatError.malformed(path: path, what: "\(key) is not a token id below \(tokens.count)")
            }
            return id
        }
        var options = SentencePieceOptions(merging: .byRank, spacePrefix: .none)
        options.byteFallback = true
        options.unknownTokenId = nil
        options.splitsAtNewlines = true
        options.takesNewlineRunsWhole = flavour.newlineRunsWhole
        options.readsInvalidUTF8AsReplacement = true
        options.addEosToken = meta["tokenizer.ggml.add_eos_token"]?.bool ?? false
        let addBos = flavour.forcesBos || (meta["tokenizer.ggml.add_bos_token"]?.bool ?? false)
        // Merges decide; the file's scores are not used.
        return TokenizerSpec(sentencePiece: options, tokens: tokens, scores: [], types: types, merges: merges,
                             eos: try tokenId("tokenizer.ggml.eos_token_id"), bos: try tokenId("tokenizer.ggml.bos_token_id"),
                             addBos: addBos)
    }
}
