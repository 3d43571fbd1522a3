import Foundation

// Loading a TokenizerSpec from Hugging Face `tokenizer.json` or from GGUF `tokenizer.ggml.*` metadata.
// Byte-level BPE (GPT-2 style) is read here; SentencePiece-style files are handed to
// TokenizerSpec+SentencePiece*.swift. Anything else is rejected with a FormatError that names the file and
// the unsupported feature, rather than producing ids that silently differ from the reference.

extension TokenizerSpec {
    /// GPT-2's pre-tokenizer, as HF writes it for `ByteLevel(use_regex: true)`. llama.cpp's copy lacks the
    /// final `|\s+`; that makes no difference because text no alternative matches becomes a piece anyway.
    public static let gpt2Pattern =
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Qwen2's pattern exactly as in its `tokenizer.json`. llama.cpp runs a rewrite without `(?i:…)` because its
    /// own regex engine lacks inline flags; ours (ICU) has them, so we keep Hugging Face's text.
    public static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Llama 3's pattern as in its `tokenizer.json`: Qwen2's with digits grouped in threes.
    public static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    // MARK: - tokenizer.json

    /// Reads a Hugging Face `tokenizer.json`. If a `tokenizer_config.json` lies beside it, its `eos_token`,
    /// `bos_token` and `add_bos_token` are used (tokenizer.json itself does not say which token ends a text).
    public init(tokenizerJSON path: String) throws {
        let root = try Self.readJSONObject(path)
        if let spec = try Self.sentencePiece(json: root, path: path) {   // BPE over ▁-spelled pieces
            self = spec
            return
        }
        guard let model = root["model"] as? [String: Any] else {
            throw FormatError.malformed(path: path, what: "no 'model' object")
        }
        let modelType = model["type"] as? String ?? "(none)"
        guard modelType == "BPE" else {
            throw FormatError.malformed(path: path, what: "tokenizer model type \(FormatError.quote(modelType)) is not supported (only BPE)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where !(model[key] is NSNull || model[key] == nil) {
            throw FormatError.malformed(path: path, what: "BPE option '\(key)' is not supported")
        }
        // Note: `ignore_merges` (Llama 3) has no place in TokenizerSpec; plain BPE gives the same ids except
        // for rare pieces that are themselves vocabulary entries but are not reachable by the merges.

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

        var added: [(id: Int, content: String, special: Bool)] = []
        for entry in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = entry["id"] as? Int, id >= 0, id <= Int(Int32.max), let content = entry["content"] as? String, !content.isEmpty else {
                throw FormatError.malformed(path: path, what: "an added_tokens entry lacks an id or content")
            }
            added.append((id: id, content: content, special: entry["special"] as? Bool ?? false))
            idToToken[id] = content
        }
        // Ids are normally dense; a gap (an id nobody names) becomes an empty token that never matches.
        // A few gaps are tolerated, an id far beyond the token count is a corrupt file (and a huge allocation).
        let count = (idToToken.keys.max() ?? -1) + 1
        guard count <= 2 * idToToken.count + 1024 else {
            throw FormatError.malformed(path: path, what: "token ids are not dense (largest \(count - 1) for \(idToToken.count) tokens)")
        }
        var tokens = [String](repeating: "", count: count)
        for (id, token) in idToToken { tokens[id] = token }

        let merges = try Self.parseMerges(model["merges"], path: path)
        if let normalizer = root["normalizer"] as? [String: Any] {
            // NFC (real Qwen2 files) is accepted: it changes nothing for text that is already NFC, as nearly all is.
            // Anything else would change ids, so it is refused.
            guard normalizer["type"] as? String == "NFC" else {
                throw FormatError.malformed(path: path, what: "normalizer \(FormatError.quote("\(normalizer["type"] ?? "?")")) is not supported")
            }
        }
        let pattern = try Self.splitPattern(root["pre_tokenizer"], path: path)

        // Which token ends a text, begins one, and whether one is prepended: tokenizer_config.json, else
        // a TemplateProcessing post-processor whose single-sequence template starts with a special token.
        let lookup = Dictionary(idToToken.map { ($0.value, $0.key) }, uniquingKeysWith: { a, b in min(a, b) })
        var eos: Int?, bos: Int?, addBos = false
        if let templateBos = Self.templateBos(root["post_processor"]), templateBos < count {
            bos = templateBos
            addBos = true
        }
        let configPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        if FileManager.default.fileExists(atPath: configPath) {
            let config = try Self.readJSONObject(configPath)
            eos = Self.tokenContent(config["eos_token"]).flatMap { lookup[$0] }
            if let b = Self.tokenContent(config["bos_token"]).flatMap({ lookup[$0] }) { bos = b }
            if let flag = config["add_bos_token"] as? Bool { addBos = flag && bos != nil }
        }
        self.init(tokens: tokens, merges: merges, addedTokens: added.sorted { $0.id < $1.id },
                  preTokenizerPattern: pattern, eosTokenId: eos, bosTokenId: bos, addBosToken: addBos)
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.missingFile(path: path) }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError.cannotOpen(path: path, reason: FormatError.clip(error.localizedDescription))
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw FormatError.badJSON(path: path, reason: HFConfig.syntaxProblem(data))
        }
        guard let dict = object as? [String: Any] else {
            throw FormatError.badJSON(path: path, reason: "top level is not an object")
        }
        return dict
    }

    /// Merges come as `["a", "b"]` pairs (tokenizers ≥ 0.20) or as `"a b"` strings (older files, GGUF).
    /// Byte-level tokens never contain a raw space (it is mapped to "Ġ"), so one space separates the two.
    static func parseMerges(_ value: Any?, path: String) throws -> [(String, String)] {
        guard let list = value as? [Any] else {
            throw FormatError.malformed(path: path, what: "model.merges is missing or not a list")
        }
        return try list.enumerated().map { index, item in
            if let pair = item as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            if let text = item as? String, let pair = splitMerge(text) { return pair }
            throw FormatError.malformed(path: path, what: "merge \(index) is neither a pair nor an 'a b' string")
        }
    }

    static func splitMerge(_ text: String) -> (String, String)? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The one split regex a byte-level pre-tokenizer applies: a `Split` (Isolated, not inverted) followed by a
    /// `ByteLevel` without its own regex, or a bare `ByteLevel` with `use_regex` (= GPT-2's pattern).
    static func splitPattern(_ value: Any?, path: String) throws -> String {
        guard let pre = value as? [String: Any] else {
            throw FormatError.malformed(path: path, what: "no pre_tokenizer (only byte-level BPE is supported)")
        }
        let steps = pre["type"] as? String == "Sequence" ? (pre["pretokenizers"] as? [[String: Any]] ?? []) : [pre]
        var pattern: String?
        var sawByteLevel = false
        for step in steps {
            switch step["type"] as? String {
            case "Split":
                guard pattern == nil, !sawByteLevel else {
                    throw FormatError.malformed(path: path, what: "more than one split step in the pre-tokenizer is not supported")
                }
                guard step["behavior"] as? String == "Isolated", step["invert"] as? Bool != true else {
                    throw FormatError.malformed(path: path, what: "Split pre-tokenizer must be 'Isolated' and not inverted")
                }
                let source = step["pattern"] as? [String: Any]
                if let regex = source?["Regex"] as? String {
                    pattern = regex
                } else if let literal = source?["String"] as? String {
                    pattern = NSRegularExpression.escapedPattern(for: literal)
                } else {
                    throw FormatError.malformed(path: path, what: "Split pre-tokenizer has no Regex or String pattern")
                }
            case "ByteLevel":
                guard step["add_prefix_space"] as? Bool != true else {
                    throw FormatError.malformed(path: path, what: "ByteLevel add_prefix_space is not supported")
                }
                if step["use_regex"] as? Bool ?? true {
                    guard pattern == nil else {
                        throw FormatError.malformed(path: path, what: "a Split followed by a regex ByteLevel is not supported")
                    }
                    pattern = gpt2Pattern
                }
                sawByteLevel = true
            default:
                throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote("\(step["type"] ?? "?")")) is not supported")
            }
        }
        guard sawByteLevel else {
            throw FormatError.malformed(path: path, what: "pre-tokenizer is not byte-level (no ByteLevel step)")
        }
        // ByteLevel without a regex and no Split: the whole text is one piece.
        return pattern ?? #"[\s\S]+"#
    }

    /// A special token in tokenizer_config.json is either its text or `{"content": text, …}`.
    static func tokenContent(_ value: Any?) -> String? {
        if let text = value as? String { return text }
        return (value as? [String: Any])?["content"] as? String
    }

    /// The id of the token a TemplateProcessing post-processor puts before a single sequence, if any.
    static func templateBos(_ value: Any?) -> Int? {
        guard let processor = value as? [String: Any] else { return nil }
        if processor["type"] as? String == "Sequence" {
            return (processor["processors"] as? [Any] ?? []).lazy.compactMap { templateBos($0) }.first
        }
        guard processor["type"] as? String == "TemplateProcessing",
              let first = (processor["single"] as? [[String: Any]])?.first,
              let name = (first["SpecialToken"] as? [String: Any])?["id"] as? String,
              let special = (processor["special_tokens"] as? [String: Any])?[name] as? [String: Any],
              let ids = special["ids"] as? [Int], ids.count == 1 else { return nil }
        return ids[0]
    }
}

// MARK: - GGUF

extension TokenizerSpec {
    /// Reads `tokenizer.ggml.*` as llama.cpp writes it: model "gpt2" (byte-level BPE) here, "llama"
    /// (SentencePiece) in TokenizerSpec+SentencePiece.swift.
    /// Token types 3 (control) and 4 (user-defined) become added tokens, matched verbatim in raw text;
    /// control tokens are the special ones.
    public init(gguf: GGUFFile) throws {
        let path = gguf.path
        let meta = gguf.metadata
        guard let model = meta["tokenizer.ggml.model"]?.string else {
            throw FormatError.malformed(path: path, what: "no tokenizer.ggml.model (the file carries no tokenizer)")
        }
        if model == "llama" {
            self = try Self.sentencePiece(gguf: gguf)
            return
        }
        guard model == "gpt2" else {
            throw FormatError.malformed(path: path, what: "tokenizer model \(FormatError.quote(model)) is not supported (supported: 'gpt2', byte-level BPE; 'llama', SentencePiece)")
        }
        func strings(_ key: String) throws -> [String] {
            guard let list = meta[key]?.array else { throw FormatError.malformed(path: path, what: "no \(key) array") }
            return try list.map {
                guard let s = $0.string else { throw FormatError.malformed(path: path, what: "\(key) holds a non-string") }
                return s
            }
        }
        let tokens = try strings("tokenizer.ggml.tokens")
        let merges = try strings("tokenizer.ggml.merges").enumerated().map { index, text in
            guard let pair = Self.splitMerge(text) else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.merges[\(index)] is not an 'a b' string")
            }
            return pair
        }

        var added: [(id: Int, content: String, special: Bool)] = []
        if let types = meta["tokenizer.ggml.token_type"]?.array {
            guard types.count == tokens.count else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
            }
            for (id, type) in types.enumerated() where type.int == 3 || type.int == 4 {
                added.append((id: id, content: tokens[id], special: type.int == 3))
            }
        }

        let pre = meta["tokenizer.ggml.pre"]?.string ?? "default"
        guard let (pattern, llamaDefaultsToBos) = Self.ggufPreTokenizer(pre) else {
            throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote(pre)) is not supported (known: qwen2, llama3/llama-bpe, gpt-2/default, olmo and aliases)")
        }
        func tokenId(_ key: String) throws -> Int? {
            guard let value = meta[key] else { return nil }
            guard let id = value.int, id >= 0, id < tokens.count else {
                throw FormatError.malformed(path: path, what: "\(key) is not a token id below \(tokens.count)")
            }
            return id
        }
        let bos = try tokenId("tokenizer.ggml.bos_token_id")
        let addBos = (meta["tokenizer.ggml.add_bos_token"]?.bool ?? llamaDefaultsToBos) && bos != nil
        self.init(tokens: tokens, merges: merges, addedTokens: added, preTokenizerPattern: pattern,
                  eosTokenId: try tokenId("tokenizer.ggml.eos_token_id"), bosTokenId: bos, addBosToken: addBos)
    }

    /// `tokenizer.ggml.pre` names a pre-tokenizer compiled into llama.cpp (src/llama-vocab.cpp); the regex
    /// is not in the file. Returns the pattern and llama.cpp's default for add_bos when the file does not say.
    /// Names llama.cpp implements with several regexes applied in turn (deepseek-llm, deepseek-coder, falcon, …)
    /// do not fit one pattern and are refused.
    static func ggufPreTokenizer(_ name: String) -> (pattern: String, addBosByDefault: Bool)? {
        switch name {
        case "qwen2", "deepseek-r1-qwen", "megrez", "stablelm2":
            return (qwen2Pattern, false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe":
            // llama.cpp also sets ignore_merges for this family; TokenizerSpec cannot express it (see above).
            return (llama3Pattern, ["llama3", "llama-v3", "llama-bpe", "falcon3"].contains(name))
        case "gpt2", "gpt-2", "phi-2", "mpt", "olmo", "jais":
            return (gpt2Pattern, false)
        case "default":
            // llama.cpp's "default" first isolates punctuation runs and splits digit runs in threes before GPT-2's
            // regex; GPT-2's regex alone is the closest single pattern and agrees on ordinary prose.
            return (gpt2Pattern, false)
        default:
            return nil
        }
    }
}
