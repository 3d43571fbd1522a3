import MoEFormats

/// Byte-level BPE tokenizer (GPT-2 family: Qwen, Llama 3, DeepSeek, GLM, gpt-oss, Kimi, OLMo, …) built from a
/// TokenizerSpec.
/// SentencePiece vocabularies (Llama 2, Mistral, Mixtral, ERNIE) and raw-UTF-8 BPE ones (gemma-4) take the path
/// in SentencePieceEncoder.swift after the same added-token split.
///
/// Encoding, as Hugging Face `tokenizers` does it: split out added tokens matched in the raw text → normalize
/// each stretch between them → split out added tokens matched in normalized text → cut the rest into pieces
/// by the pre-tokenizer's steps → spell each piece's UTF-8 bytes as single-byte tokens → merge by rank. Ids
/// match `tokenizers` for the same tokenizer.json and llama.cpp for the same GGUF file. Immutable apart from an
/// internal, locked cache, so one instance may serve many threads.
public final class Tokenizer: Sendable {
    public let vocabularySize: Int
    public let eosTokenId: Int?
    public let bosTokenId: Int?
    /// Whether prompts should start with `bosTokenId` (see `encodePrompt`).
    public let addsBosToken: Bool
    /// Whether `encodePrompt` ends with `eosTokenId` (some SentencePiece models ask for it).
    public let addsEosToken: Bool

    /// id → the token as the vocabulary spells it (e.g. "Ġthe").
    private let tokenStrings: [String]
    /// id → the raw bytes it stands for. Added tokens stand for their content as written.
    private let tokenBytes: [[UInt8]]
    private let idForVocabularyString: [String: Int]
    /// byte → id of the single-byte token, or -1 if the vocabulary lacks it (such bytes are dropped,
    /// as Hugging Face does when there is no unknown token).
    private let byteTokenIds: [Int32]
    private let specialIds: Set<Int>
    private let merges: MergeTable
    /// Added tokens matched in the raw text, and those matched after normalization (Hugging Face's two passes).
    private let rawAddedTokens: AddedTokenMatcher
    private let normalizedAddedTokens: AddedTokenMatcher
    private let preTokenizer: PreTokenizer
    /// With `ignoreMerges`: byte-level spelling (UTF-8) → id, to take a piece that is a token as it is.
    private let wholePieceIds: [[UInt8]: Int32]?
    private let cache = PieceCache()
    /// Set for SentencePiece vocabularies, which encode and decode differently (byte-level fields unused).
    private let sentencePiece: SentencePieceEncoder?
    /// Multi-step pre-tokenizers: for each step, the ids of a piece that reaches it. Pieces repeat (words), and
    /// each further step is one ICU call per piece; this turns most of those calls into a lookup.
    private let stepCaches: [PieceCache]

    public init(spec: TokenizerSpec) throws {
        let size = spec.tokens.count
        vocabularySize = size
        tokenStrings = spec.tokens
        for (what, id) in [("eos token", spec.eosTokenId), ("bos token", spec.bosTokenId)] {
            if let id, !(0 ..< size).contains(id) { throw TokenizerError.tokenIdOutOfRange(what: what, id: id, vocabularySize: size) }
        }
        for token in spec.addedTokens where !(0 ..< size).contains(token.id) {
            throw TokenizerError.tokenIdOutOfRange(what: "added token '\(token.content)'", id: token.id, vocabularySize: size)
        }
        eosTokenId = spec.eosTokenId
        bosTokenId = spec.bosTokenId
        addsBosToken = spec.addBosToken && spec.bosTokenId != nil

        // Keyed by UTF-8 bytes, not String: Swift compares Strings by canonical equivalence, and two
        // distinct tokens must never be treated as one.
        var idForBytes: [[UInt8]: Int32] = [:]
        for (id, token) in spec.tokens.enumerated() where !token.isEmpty {
            let key = Array(token.utf8)
            if idForBytes[key] == nil { idForBytes[key] = Int32(id) }
        }
        idForVocabularyString = Dictionary(spec.tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        byteTokenIds = ByteLevel.scalarForByte.map { idForBytes[Array(String($0).utf8)] ?? -1 }

        var rules: [UInt64: MergeTable.Rule] = [:]
        rules.reserveCapacity(spec.merges.count)
        for (rank, (left, right)) in spec.merges.enumerated() {
            guard let l = idForBytes[Array(left.utf8)] else { throw TokenizerError.mergeOfUnknownToken(rank: rank, token: left) }
            guard let r = idForBytes[Array(right.utf8)] else { throw TokenizerError.mergeOfUnknownToken(rank: rank, token: right) }
            guard let merged = idForBytes[Array(left.utf8) + Array(right.utf8)] else {
                throw TokenizerError.mergeResultNotInVocabulary(rank: rank, left: left, right: right)
            }
            let key = MergeTable.key(l, r)
            if rules[key] == nil { rules[key] = MergeTable.Rule(rank: Int32(rank), merged: merged) }
        }
        merges = MergeTable(rules: rules)

        if case let .sentencePiece(options) = spec.kind {
            sentencePiece = SentencePieceEncoder(spec: spec, options: options, merges: merges)
            addsEosToken = options.addEosToken && spec.eosTokenId != nil
        } else {
            sentencePiece = nil
            addsEosToken = false
        }
        let addedIds = Set(spec.addedTokens.map(\.id))
        tokenBytes = sentencePiece?.tokenBytes ?? spec.tokens.enumerated().map { id, token in
            addedIds.contains(id) ? Array(token.utf8) : ByteLevel.bytes(of: token)
        }
        specialIds = Set(spec.addedTokens.filter(\.special).map(\.id))
        let compiled = try PreTokenizer(spec.preTokenizer)
        preTokenizer = compiled
        // Without normalizers both passes see the same text, but the order still matters (raw-text tokens win).
        rawAddedTokens = AddedTokenMatcher(spec.addedTokens.filter { !$0.normalized })
        // Hugging Face normalizes these tokens' contents too, with the same normalizers, before matching them.
        normalizedAddedTokens = AddedTokenMatcher(spec.addedTokens.filter(\.normalized).map { token in
            var normalized = token
            normalized.content = compiled.normalize(token.content)
            return normalized
        })
        wholePieceIds = spec.ignoreMerges ? idForBytes : nil
        stepCaches = (0 ..< (compiled.isSingleSplit ? 0 : compiled.stepCount)).map { _ in PieceCache() }
    }

    // MARK: Encoding

    /// The ids of `text`, without BOS. Added tokens written in the text ("<|endoftext|>") become their ids;
    /// with `parseSpecial: false`, special (control) tokens are ordinary text, as llama-tokenize's default
    /// (`--no-parse-special`) has it, while user-defined added tokens are still matched.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] {
        let bytes = Array(text.utf8)
        if let sentencePiece { return encodeSentencePiece(sentencePiece, bytes, parseSpecial: parseSpecial) }
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 3)
        for segment in rawAddedTokens.segments(of: bytes, in: 0 ..< bytes.count, parseSpecial: parseSpecial) {
            switch segment {
            case let .token(id):
                ids.append(id)
            case let .text(range):
                let text = String(decoding: bytes[range], as: UTF8.self)
                guard preTokenizer.normalizes || !normalizedAddedTokens.isEmpty else {
                    appendPieces(of: text, to: &ids)
                    continue
                }
                let normalized = Array(preTokenizer.normalize(text).utf8)
                for inner in normalizedAddedTokens.segments(of: normalized, in: 0 ..< normalized.count, parseSpecial: parseSpecial) {
                    switch inner {
                    case let .token(id): ids.append(id)
                    case let .text(range):
                        appendPieces(of: String(decoding: normalized[range], as: UTF8.self), to: &ids)
                    }
                }
            }
        }
        return ids
    }

    /// The ids of raw bytes that need not be valid UTF-8 (`moe tokenize --file`), as llama.cpp treats a
    /// std::string: SentencePiece merges the bytes as they are (a stray byte becomes its `<0xXX>` token);
    /// byte-level BPE and raw-UTF-8 BPE read each byte that starts no complete UTF-8 sequence as U+FFFD
    /// (LossyUTF8.swift).
    public func encode(bytes: [UInt8], parseSpecial: Bool = true) -> [Int] {
        if let sentencePiece {
            // Raw-UTF-8 BPE reads invalid UTF-8 as llama.cpp's regex split does (one U+FFFD per bad byte).
            let input = sentencePiece.options.readsInvalidUTF8AsReplacement ? Array(LossyUTF8.string(bytes).utf8) : bytes
            return encodeSentencePiece(sentencePiece, input, parseSpecial: parseSpecial)
        }
        return encode(LossyUTF8.string(bytes), parseSpecial: parseSpecial)
    }

    private func encodeSentencePiece(_ encoder: SentencePieceEncoder, _ bytes: [UInt8], parseSpecial: Bool) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 3)
        var stripWhitespace = false   // after a token with llama.cpp's RSTRIP attribute
        for segment in rawAddedTokens.segments(of: bytes, in: 0 ..< bytes.count, parseSpecial: parseSpecial) {
            switch segment {
            case let .token(id):
                ids.append(id)
                stripWhitespace = encoder.options.rstripTokenIds.contains(id)
            case var .text(range):
                // C's isspace: space, \t, \n, \v, \f, \r.
                while stripWhitespace, let first = range.first, bytes[first] == 0x20 || (0x09 ... 0x0D).contains(bytes[first]) {
                    range = range.dropFirst()
                }
                encoder.encode(bytes, range, atStart: range.lowerBound == 0, into: &ids)
                stripWhitespace = false
            }
        }
        return ids
    }

    /// The pieces BPE would merge, for text without added tokens: normalized, then cut by the pre-tokenizer's
    /// steps (before the byte-level spelling). For tests and diagnostics.
    public func preTokenize(_ text: String) -> [String] {
        var pieces: [String] = []
        preTokenizer.forEachPiece(of: preTokenizer.normalize(text)) { pieces.append(String(decoding: $0, as: UTF8.self)) }
        return pieces
    }

    /// `encode(text)` with BOS in front when the tokenizer asks for one (Llama 3 does; Qwen does not), and
    /// EOS at the end when it asks for that.
    public func encodePrompt(_ text: String) -> [Int] {
        withSpecialEnds(encode(text))
    }

    /// `ids` with the BOS / EOS the tokenizer adds around a prompt.
    public func withSpecialEnds(_ ids: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(ids.count + 2)
        if addsBosToken, let bos = bosTokenId { out.append(bos) }
        out += ids
        if addsEosToken, let eos = eosTokenId { out.append(eos) }
        return out
    }

    /// Pre-tokenizes normalized text and appends the ids of its pieces.
    private func appendPieces(of text: String, to ids: inout [Int]) {
        if stepCaches.isEmpty {
            preTokenizer.forEachPiece(of: text) { appendPiece($0, to: &ids) }
        } else {
            appendPieces(of: text, step: 0, to: &ids)
        }
    }

    /// The ids of `piece` as it enters pre-tokenizer step `step`: steps are applied depth-first, each piece's ids
    /// remembered per step.
    private func appendPieces(of piece: String, step: Int, to ids: inout [Int]) {
        guard step < stepCaches.count else {
            appendPiece(ArraySlice(piece.utf8), to: &ids)
            return
        }
        let key = ArraySlice(piece.utf8)
        if let cached = stepCaches[step].ids(for: key) {
            ids.append(contentsOf: cached)
            return
        }
        let start = ids.count
        for inner in preTokenizer.apply(step: step, to: piece) { appendPieces(of: inner, step: step + 1, to: &ids) }
        stepCaches[step].store(Array(ids[start...]), for: key)
    }

    private func appendPiece(_ piece: ArraySlice<UInt8>, to ids: inout [Int]) {
        if piece.count == 1 {
            let id = byteTokenIds[Int(piece.first!)]
            if id >= 0 { ids.append(Int(id)) }
            return
        }
        if let cached = cache.ids(for: piece) {
            ids.append(contentsOf: cached)
            return
        }
        if let wholePieceIds, let id = wholePieceIds[piece.flatMap { ByteLevel.spelling[Int($0)] }] {
            ids.append(Int(id))
            return
        }
        let symbols = piece.map { byteTokenIds[Int($0)] }.filter { $0 >= 0 }
        let merged = merges.apply(to: symbols).map(Int.init)
        cache.store(merged, for: piece)
        ids.append(contentsOf: merged)
    }

    // MARK: Decoding

    /// The raw bytes of `ids`, concatenated. A token may end inside a UTF-8 sequence, so a streaming caller
    /// should write these bytes as they come (or use `UTF8StreamDecoder`) rather than decode token by token.
    /// Ids outside the vocabulary are skipped.
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < vocabularySize {
            bytes.append(contentsOf: tokenBytes[id])
        }
        return bytes
    }

    /// The text of `ids`; invalid UTF-8 (a sequence cut off, or ids that make no sense together) becomes U+FFFD.
    /// SentencePiece: control tokens print nothing, and the space the encoder put before the first piece is
    /// dropped (a continuation streamed token by token through `decodeBytes` keeps its spaces).
    public func decode(_ ids: [Int]) -> String {
        var bytes = decodeBytes(ids)
        if let sentencePiece, sentencePiece.dropsLeadingSpace(ids), bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Vocabulary

    /// The token as the vocabulary spells it (byte-level form, e.g. "Ġthe"), or nil for an unknown id.
    public func tokenString(_ id: Int) -> String? {
        id >= 0 && id < vocabularySize ? tokenStrings[id] : nil
    }

    /// The id of a token spelled as in the vocabulary (e.g. "<|im_end|>"), if there is one.
    public func tokenId(_ vocabularyString: String) -> Int? {
        idForVocabularyString[vocabularyString]
    }

    /// Whether `id` is a special (control) token such as "<|endoftext|>".
    public func isSpecial(_ id: Int) -> Bool {
        specialIds.contains(id)
    }
}
