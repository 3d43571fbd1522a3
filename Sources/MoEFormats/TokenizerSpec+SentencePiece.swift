import Foundation

// SentencePiece vocabularies (Llama 1/2, Mistral, Mixtral, ERNIE-4.5, …) from the three files they come in:
// GGUF `tokenizer.ggml.model = llama`, Hugging Face `tokenizer.json` (BPE with byte fallback and a Metaspace
// pre-tokenizer, or the older Prepend/Replace normalizer), and the SentencePiece `tokenizer.model` itself.
// Each file is read with the rules of the program that reads it in practice, because they differ on small
// points (what goes before the first piece, how merges are ordered):
// - GGUF: llama.cpp (src/llama-vocab.cpp, `llm_tokenizer_spm`): merge by piece score, a space before the text
//   and after every special token when `add_space_prefix`, byte fallback to `<0xXX>` tokens.
// - tokenizer.json: Hugging Face `tokenizers`: merge by merge rank, Metaspace's `prepend_scheme`, byte
//   fallback only when the model says so, `unk_token` / `fuse_unk` / `ignore_merges`.
// - tokenizer.model: as the GGUF file llama.cpp's converter makes from it (convert_hf_to_gguf.py,
//   `_set_vocab_sentencepiece`), so a folder and its converted GGUF give the same ids. On ordinary text these
//   equal the `sentencepiece` library's own; the normalizer's charsmap and `remove_extra_whitespaces` are
//   ignored, as both llama.cpp and transformers' LlamaConverter ignore them.

/// SentencePiece's piece types, which GGUF's `tokenizer.ggml.token_type` reuses (0 = undefined).
public enum TokenType: Int, Sendable, Equatable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

public enum TokenizerKind: Sendable, Equatable {
    /// GPT-2 style: tokens spell bytes with printable code points, pre-tokenizer regex, merges by rank.
    case byteLevelBPE
    /// Tokens spell text with U+2581 (▁) for space; characters not in the vocabulary fall back to `<0xXX>`.
    case sentencePiece(SentencePieceOptions)
}

/// How one SentencePiece-style file wants text turned into pieces (see the file comment for who decides).
public struct SentencePieceOptions: Sendable, Equatable {
    public enum Merging: Sendable, Equatable {
        /// SentencePiece / llama.cpp: merge the adjacent pair whose concatenation is the vocabulary entry with
        /// the highest score (leftmost on ties). Needs `TokenizerSpec.scores`.
        case byScore
        /// Hugging Face BPE: apply `TokenizerSpec.merges` by rank (lowest first, leftmost on ties).
        case byRank
    }

    /// Where a ▁ is put in front of text (text = a run between added tokens; two never touch).
    public enum SpacePrefix: Sendable, Equatable {
        case none
        /// Before every text, whatever it starts with: llama.cpp's `add_space_prefix` (a space at the start and
        /// after each added token), SentencePiece's `add_dummy_prefix`, HF's `Prepend("▁")` normalizer.
        case everyText
        /// HF Metaspace "first": before the text that starts the input, unless it already starts with ▁ or a space.
        case first
        /// HF Metaspace "always": before every text, unless it already starts with ▁ or a space.
        case always
    }

    public var merging: Merging
    public var spacePrefix: SpacePrefix
    /// Spaces become ▁ before merging (`escape_whitespaces`; off only for unusual files).
    public var escapesSpaces = true
    /// HF Metaspace `split`: cut the text before every ▁ and merge each piece on its own.
    public var splitsAtSpaces = false
    /// Raw-UTF-8 BPE (TokenizerSpec+RawUTF8BPE.swift): cut the text into runs of newlines and runs of anything
    /// else (llama.cpp's `[^\n]+|[\n]+`) and merge each on its own.
    public var splitsAtNewlines = false
    /// With `splitsAtNewlines`: a run of newlines that is itself a token is that token (gemma-4).
    public var takesNewlineRunsWhole = false
    /// `Tokenizer.encode(bytes:)` reads each byte that starts no valid UTF-8 sequence as U+FFFD (LossyUTF8), as
    /// llama.cpp's regex split does for BPE; SentencePiece proper merges stray bytes as they are.
    public var readsInvalidUTF8AsReplacement = false
    /// `byRank` only: characters missing from the vocabulary become `<0xXX>` tokens if all their bytes have
    /// one (else the unknown token). `byScore` always falls back to bytes, as llama.cpp does.
    public var byteFallback = true
    public var unknownTokenId: Int?
    /// `byRank` only: consecutive unknown characters make one unknown token (HF `fuse_unk`).
    public var fusesUnknown = false
    /// `byRank` only: a piece that is itself a vocabulary entry is taken whole, merges unused (HF `ignore_merges`).
    public var ignoresMerges = false
    public var addEosToken = false
    /// Added tokens after which whitespace is dropped from the following text (llama.cpp's RSTRIP attribute,
    /// which it sets by model name: Phi-3's special tokens).
    public var rstripTokenIds: Set<Int> = []

    public init(merging: Merging, spacePrefix: SpacePrefix) {
        self.merging = merging
        self.spacePrefix = spacePrefix
    }
}

extension TokenizerSpec {
    /// ▁, the character SentencePiece writes for a space.
    public static let spaceMark = "\u{2581}"

    /// A SentencePiece spec: no merges unless `byRank`, no pre-tokenizer regex.
    init(sentencePiece options: SentencePieceOptions, tokens: [String], scores: [Float], types: [TokenType],
         merges: [(String, String)] = [], eos: Int?, bos: Int?, addBos: Bool) {
        // Control and unknown tokens are special (matched in text only when special text is parsed), user-defined
        // ones are always matched, as llama.cpp's tokenizer_st_partition does.
        let added = types.enumerated().compactMap { id, type -> AddedToken? in
            switch type {
            case .control, .unknown: return AddedToken(id: id, content: tokens[id], special: true)
            case .userDefined: return AddedToken(id: id, content: tokens[id], special: false)
            default: return nil
            }
        }
        self.init(tokens: tokens, merges: merges, addedTokens: added, preTokenizer: .wholeText,
                  eosTokenId: eos, bosTokenId: bos, addBosToken: addBos && bos != nil)
        kind = .sentencePiece(options)
        self.scores = scores
        tokenTypes = types
    }

    /// The byte a `<0xXX>` token stands for (two hex digits, either case, as llama.cpp's strtol reads them).
    public static func byteTokenValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
              u[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: u[3 ..< 5], as: UTF8.self), radix: 16)
    }

    /// Every byte token must name its byte, or decoding would have to guess.
    static func checkByteTokens(_ tokens: [String], _ types: [TokenType], path: String) throws {
        for (id, type) in types.enumerated() where type == .byte && byteTokenValue(tokens[id]) == nil {
            throw FormatError.malformed(path: path, what: "byte token \(id) is \(FormatError.quote(tokens[id])), not <0xXX>")
        }
    }

    // MARK: - GGUF (tokenizer.ggml.model = llama)

    /// Texts llama.cpp always treats as control tokens (its "control-looking" end-of-generation markers,
    /// llama-vocab.cpp), whatever type the file gives them.
    static let llamaCppControlLooking: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<\u{FF5C}end\u{2581}of\u{2581}sentence\u{FF5C}>", "[e~[",
    ]

    static func sentencePiece(gguf: GGUFFile) throws -> TokenizerSpec {
        let path = gguf.path
        let meta = gguf.metadata
        func array(_ key: String) throws -> [GGUFValue] {
            guard let list = meta[key]?.array else {
                throw FormatError.malformed(path: path, what: "no \(key) array (a SentencePiece vocabulary needs one)")
            }
            return list
        }
        // llama.cpp names an empty token "[EMPTY_<id>]"; we do the same so that it can never match text.
        let tokens = try array("tokenizer.ggml.tokens").enumerated().map { id, value in
            guard let s = value.string else { throw FormatError.malformed(path: path, what: "tokenizer.ggml.tokens holds a non-string") }
            return s.isEmpty ? "[EMPTY_\(id)]" : s
        }
        guard !tokens.isEmpty else { throw FormatError.malformed(path: path, what: "tokenizer.ggml.tokens is empty") }
        // Without scores every merge would tie and the ids would be silently wrong, so scores are required.
        let scoreValues = try array("tokenizer.ggml.scores")
        guard scoreValues.count == tokens.count else {
            throw FormatError.malformed(path: path, what: "tokenizer.ggml.scores has \(scoreValues.count) entries for \(tokens.count) tokens")
        }
        let scores = try scoreValues.enumerated().map { id, value in
            guard let score = value.double, !score.isNaN else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.scores[\(id)] is not a number")
            }
            return Float(score)
        }
        var types = [TokenType](repeating: .normal, count: tokens.count)
        if let typeValues = meta["tokenizer.ggml.token_type"]?.array {
            guard typeValues.count == tokens.count else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.token_type has \(typeValues.count) entries for \(tokens.count) tokens")
            }
            for (id, value) in typeValues.enumerated() {
                guard let raw = value.int, let type = TokenType(rawValue: raw) else {
                    throw FormatError.malformed(path: path, what: "tokenizer.ggml.token_type[\(id)] is \(value.int.map(String.init) ?? "not an integer") (known: 0 to 6)")
                }
                types[id] = type
            }
        }
        try checkByteTokens(tokens, types, path: path)
        // llama.cpp's own corrections, which its users get whatever the file says (llama-vocab.cpp, load):
        // end-of-generation markers are control tokens even when typed otherwise ("</s>" is user-defined in
        // Phi-3 files), and Phi-3's special tokens swallow the whitespace after them.
        for (id, token) in tokens.enumerated() where llamaCppControlLooking.contains(token) { types[id] = .control }
        let isPhi3 = ["phi-3", "phi3"].contains { (meta["general.name"]?.string ?? "").lowercased().contains($0) }
        var rstrip: Set<Int> = []
        if isPhi3 {
            for (id, type) in types.enumerated() where [.control, .userDefined, .unknown].contains(type) || tokens[id] == "</s>" {
                if !["<unk>", "<s>", "<|endoftext|>"].contains(tokens[id]) { rstrip.insert(id) }
            }
        }

        // llama.cpp's defaults for model "llama": bos 1, eos 2, unk 0, BOS added, no EOS, a space prefix.
        func tokenId(_ key: String, default fallback: Int) throws -> Int? {
            guard let value = meta[key] else { return fallback < tokens.count ? fallback : nil }
            guard let id = value.int, id >= 0, id < tokens.count else {
                throw FormatError.malformed(path: path, what: "\(key) is not a token id below \(tokens.count)")
            }
            return id
        }
        let bos = try tokenId("tokenizer.ggml.bos_token_id", default: 1)
        var options = SentencePieceOptions(
            merging: .byScore, spacePrefix: (meta["tokenizer.ggml.add_space_prefix"]?.bool ?? true) ? .everyText : .none)
        options.unknownTokenId = try tokenId("tokenizer.ggml.unknown_token_id", default: 0)
        options.addEosToken = meta["tokenizer.ggml.add_eos_token"]?.bool ?? false
        options.rstripTokenIds = rstrip
        return TokenizerSpec(sentencePiece: options, tokens: tokens, scores: scores, types: types,
                             eos: try tokenId("tokenizer.ggml.eos_token_id", default: 2), bos: bos,
                             addBos: meta["tokenizer.ggml.add_bos_token"]?.bool ?? true)
    }

    // MARK: - tokenizer.model

    /// Reads a SentencePiece `tokenizer.model`. A `tokenizer_config.json` beside it may set `add_bos_token`,
    /// `add_eos_token`, `bos_token` and `eos_token`, as it does for transformers' LlamaTokenizer.
    public init(sentencePieceModel path: String) throws {
        let file = try SentencePieceModelFile(path: path)
        guard file.modelType == .bpe else {
            let name = file.modelType.map { "\($0)".uppercased() } ?? "\(file.modelTypeValue)"
            throw FormatError.malformed(path: path, what: "SentencePiece model type \(name) is not supported (only BPE)")
        }
        guard !file.treatWhitespaceAsSuffix else {
            throw FormatError.malformed(path: path, what: "treat_whitespace_as_suffix is not supported")
        }
        let tokens = file.pieces.map(\.piece)
        var seen: [String: Int] = [:]
        for (id, token) in tokens.enumerated() {
            if let other = seen.updateValue(id, forKey: token) {
                throw FormatError.malformed(path: path, what: "piece \(FormatError.quote(token)) appears twice (ids \(other) and \(id))")
            }
        }
        let types = file.pieces.map(\.type)
        try Self.checkByteTokens(tokens, types, path: path)
        func id(_ value: Int) -> Int? { value >= 0 && value < tokens.count ? value : nil }

        var options = SentencePieceOptions(merging: .byScore, spacePrefix: file.addDummyPrefix ? .everyText : .none)
        options.unknownTokenId = id(file.unkId)
        var bos = id(file.bosId), eos = id(file.eosId), addBos = true
        let config = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        if FileManager.default.fileExists(atPath: config) {
            let object = try Self.readJSONObject(config)
            if let flag = object["add_bos_token"] as? Bool { addBos = flag }
            if let flag = object["add_eos_token"] as? Bool { options.addEosToken = flag }
            if let text = Self.tokenContent(object["bos_token"]), let found = tokens.firstIndex(of: text) { bos = found }
            if let text = Self.tokenContent(object["eos_token"]), let found = tokens.firstIndex(of: text) { eos = found }
        }
        self.init(sentencePiece: options, tokens: tokens, scores: file.pieces.map(\.score), types: types,
                  eos: eos, bos: bos, addBos: addBos)
    }
}
