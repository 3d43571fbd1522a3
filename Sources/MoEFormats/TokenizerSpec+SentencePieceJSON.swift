import Foundation

// Hugging Face tokenizer.json files written for SentencePiece models (transformers' LlamaConverter and
// kin): model BPE, usually `byte_fallback: true`, with either a `Metaspace` pre-tokenizer (current files) or
// a `Prepend("▁")` + `Replace(" ", "▁")` normalizer and no pre-tokenizer (older ones). Read with the rules of
// Hugging Face `tokenizers` (models/bpe, pre_tokenizers/metaspace.rs, normalizers/prepend.rs).

extension TokenizerSpec {
    /// The spec of a SentencePiece-style tokenizer.json, or nil when the file is something else (byte-level
    /// BPE, which the caller reads). Called with the parsed root object before anything else is checked.
    static func sentencePiece(json root: [String: Any], path: String) throws -> TokenizerSpec? {
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "BPE" else { return nil }
        let preTokenizer = root["pre_tokenizer"] as? [String: Any]
        let preSteps = preTokenizer.map { $0["type"] as? String == "Sequence" ? ($0["pretokenizers"] as? [[String: Any]] ?? []) : [$0] } ?? []
        let normalizer = root["normalizer"] as? [String: Any]
        let normalizerSteps = normalizer.map { $0["type"] as? String == "Sequence" ? ($0["normalizers"] as? [[String: Any]] ?? []) : [$0] } ?? []
        let metaspace = preSteps.filter { $0["type"] as? String == "Metaspace" }
        let spaceNormalizer = normalizerSteps.contains { $0["prepend"] as? String == spaceMark || $0["content"] as? String == spaceMark }
        // A ByteLevel step makes it byte-level BPE, whatever its normalizers prepend (▁ is then just a character).
        let byteLevel = preSteps.contains { $0["type"] as? String == "ByteLevel" }
        guard !byteLevel || !metaspace.isEmpty else { return nil }
        guard !metaspace.isEmpty || spaceNormalizer || (preTokenizer == nil && model["byte_fallback"] as? Bool == true) else {
            return nil
        }

        var options = SentencePieceOptions(merging: .byRank, spacePrefix: .none)
        if let step = metaspace.first {
            guard preSteps.count == 1 else {
                throw FormatError.malformed(path: path, what: "a Metaspace pre-tokenizer inside a sequence of \(preSteps.count) steps is not supported")
            }
            guard step["replacement"] as? String ?? spaceMark == spaceMark else {
                throw FormatError.malformed(path: path, what: "Metaspace replacement \(FormatError.quote("\(step["replacement"] ?? "?")")) is not supported (only ▁)")
            }
            // Files older than tokenizers 0.19 say `add_prefix_space` instead of `prepend_scheme`.
            let scheme = step["prepend_scheme"] as? String ?? ((step["add_prefix_space"] as? Bool ?? true) ? "always" : "never")
            switch scheme {
            case "first": options.spacePrefix = .first
            case "always": options.spacePrefix = .always
            case "never": options.spacePrefix = .none
            default: throw FormatError.malformed(path: path, what: "Metaspace prepend_scheme \(FormatError.quote(scheme)) is not supported")
            }
            options.splitsAtSpaces = step["split"] as? Bool ?? true
        } else if let step = preSteps.first {
            throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote("\(step["type"] ?? "?")")) is not supported with a SentencePiece-style vocabulary")
        }
        // The normalizer, if any, may only escape spaces and prepend ▁ (the older form of Metaspace).
        options.escapesSpaces = !metaspace.isEmpty
        for step in normalizerSteps {
            let type = step["type"] as? String ?? "?"
            let content = (step["pattern"] as? [String: Any])?["String"] as? String
            if type == "Prepend", step["prepend"] as? String == spaceMark, metaspace.isEmpty {
                options.spacePrefix = .everyText
            } else if type == "Replace", content == " ", step["content"] as? String == spaceMark {
                options.escapesSpaces = true
            } else {
                throw FormatError.malformed(path: path, what: "normalizer \(FormatError.quote(type)) is not supported with a SentencePiece-style vocabulary")
            }
        }

        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where !(model[key] is NSNull || model[key] == nil) {
            throw FormatError.malformed(path: path, what: "BPE option '\(key)' is not supported")
        }
        // Dropout makes encoding random; tokenizers applies it whenever it is set.
        if let dropout = model["dropout"] as? Double, dropout > 0 {
            throw FormatError.malformed(path: path, what: "BPE dropout \(dropout) is not supported")
        }
        options.byteFallback = model["byte_fallback"] as? Bool ?? false
        options.fusesUnknown = model["fuse_unk"] as? Bool ?? false
        options.ignoresMerges = model["ignore_merges"] as? Bool ?? false

        let (tokens, added) = try jsonVocabulary(model: model, root: root, path: path)
        let lookup = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        if let unk = model["unk_token"] as? String {
            guard let id = lookup[unk] else {
                throw FormatError.malformed(path: path, what: "unk_token \(FormatError.quote(unk)) is not in the vocabulary")
            }
            options.unknownTokenId = id
        }
        var types = [TokenType](repeating: .normal, count: tokens.count)
        if options.byteFallback {
            for (id, token) in tokens.enumerated() where byteTokenValue(token) != nil { types[id] = .byte }
        }
        for token in added { types[token.id] = token.special ? .control : .userDefined }
        if let unk = options.unknownTokenId { types[unk] = .unknown }

        // BOS and EOS as for byte-level files: the post-processor's template, then tokenizer_config.json.
        var bos: Int?, eos: Int?, addBos = false
        if let templateBos = templateBos(root["post_processor"]), templateBos < tokens.count {
            bos = templateBos
            addBos = true
        }
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        if FileManager.default.fileExists(atPath: configPath) {
            let config = try readJSONObject(configPath)
            eos = tokenContent(config["eos_token"]).flatMap { lookup[$0] }
            if let b = tokenContent(config["bos_token"]).flatMap({ lookup[$0] }) { bos = b }
            if let flag = config["add_bos_token"] as? Bool { addBos = flag }
            if let flag = config["add_eos_token"] as? Bool { options.addEosToken = flag && eos != nil }
        }
        var spec = TokenizerSpec(sentencePiece: options, tokens: tokens, scores: [], types: types,
                                 merges: try parseMerges(model["merges"], path: path), eos: eos, bos: bos, addBos: addBos)
        // Added tokens as the file lists them (types only record control vs user-defined), matched in the raw
        // text: the SentencePiece path has no normalizer pass.
        spec.addedTokens = added.map { var t = $0; t.normalized = false; return t }
        return spec
    }

    /// model.vocab plus added_tokens as id-ordered token strings, for both the byte-level and the SentencePiece reader.
    static func jsonVocabulary(model: [String: Any], root: [String: Any], path: String)
        throws -> (tokens: [String], added: [AddedToken]) {
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw FormatError.malformed(path: path, what: "model.vocab is missing or not an object")
        }
        var idToToken: [Int: String] = [:]
        for (token, value) in vocab {
            guard let id = value as? Int, id >= 0, id <= Int(Int32.max) else {
                throw FormatError.malformed(path: path, what: "vocab entry \(FormatError.quote(token)) has no valid id")
            }
            if let other = idToToken[id] {
                throw FormatError.malformed(path: path, what: "id \(id) is given to both \(FormatError.quote(other)) and \(FormatError.quote(token))")
            }
            idToToken[id] = token
        }
        var added: [AddedToken] = []
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = entry["id"] as? Int, id >= 0, id <= Int(Int32.max), let content = entry["content"] as? String, !content.isEmpty else {
                throw FormatError.malformed(path: path, what: "an added_tokens entry lacks an id or content")
            }
            let special = entry["special"] as? Bool ?? false
            // Hugging Face's defaults: special tokens are matched in the raw text, others in the normalized text.
            added.append(AddedToken(id: id, content: content, special: special,
                                    lstrip: entry["lstrip"] as? Bool ?? false, rstrip: entry["rstrip"] as? Bool ?? false,
                                    normalized: entry["normalized"] as? Bool ?? !special,
                                    singleWord: entry["single_word"] as? Bool ?? false))
            idToToken[id] = content
        }
        // Ids are normally dense; a gap (an id nobody names) becomes an empty token that never matches.
        // A few gaps are tolerated, an id far beyond the token count is a corrupt file (and a huge allocation).
        let count = (idToToken.keys.max() ?? -1) + 1
        guard count > 0, count <= 2 * idToToken.count + 1024 else {
            throw FormatError.malformed(path: path, what: "token ids are not dense (largest \(count - 1) for \(idToToken.count) tokens)")
        }
        var tokens = [String](repeating: "", count: count)
        for (id, token) in idToToken { tokens[id] = token }
        return (tokens, added.sorted { $0.id < $1.id })
    }
}
