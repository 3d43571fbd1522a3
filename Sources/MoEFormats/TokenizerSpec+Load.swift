import Foundation

// Loading a TokenizerSpec from Hugging Face `tokenizer.json` or from GGUF `tokenizer.ggml.*` metadata.
// Byte-level BPE (GPT-2 style) is read here; SentencePiece-style files are handed to
// TokenizerSpec+SentencePiece*.swift. Anything else is rejected with a FormatError that names the file and
// the unsupported feature, rather than producing ids that silently differ from the reference.

extension TokenizerSpec {
    /// GPT-2's pre-tokenizer, as Hugging Face writes it for `ByteLevel(use_regex: true)`.
    public static let gpt2Pattern = PreTokenizerTable.gpt2WithFinalWhitespace

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

        let (tokens, added) = try Self.jsonVocabulary(model: model, root: root, path: path)

        let merges = try Self.parseMerges(model["merges"], path: path)
        let preTokenizer = try PreTokenizerSpec(normalizers: Self.normalizers(root["normalizer"], path: path),
                                                steps: Self.preTokenizerSteps(root["pre_tokenizer"], path: path))

        // Which token ends a text, begins one, and whether one is prepended: tokenizer_config.json, else
        // a TemplateProcessing post-processor whose single-sequence template starts with a special token.
        let lookup = Dictionary(tokens.enumerated().filter { !$0.element.isEmpty }.map { ($0.element, $0.offset) },
                                uniquingKeysWith: { a, b in min(a, b) })
        var eos: Int?, bos: Int?, addBos = false
        if let templateBos = Self.templateBos(root["post_processor"]), templateBos < tokens.count {
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
                  preTokenizer: preTokenizer, ignoreMerges: model["ignore_merges"] as? Bool ?? false,
                  eosTokenId: eos, bosTokenId: bos, addBosToken: addBos)
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

    /// Split by Unicode scalars, not Characters: a space followed by a combining mark ("▁ह ै" in gemma-4) is one
    /// Character, and would hide the separator.
    static func splitMerge(_ text: String) -> (String, String)? {
        let parts = text.unicodeScalars.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(String.UnicodeScalarView(parts[0])), String(String.UnicodeScalarView(parts[1])))
    }

    /// The steps of a byte-level pre-tokenizer, in order. `Sequence`s are flattened; `ByteLevel` must come last
    /// (it maps the text to byte-level characters, which later steps would see) and must be present (without it
    /// the tokenizer is not byte-level BPE).
    static func preTokenizerSteps(_ value: Any?, path: String) throws -> [PreTokenizerSpec.Step] {
        guard let pre = value as? [String: Any] else {
            throw FormatError.malformed(path: path, what: "no pre_tokenizer (only byte-level BPE is supported)")
        }
        var steps: [PreTokenizerSpec.Step] = []
        var sawByteLevel = false
        func add(_ step: [String: Any]) throws {
            let type = step["type"] as? String ?? "(none)"
            if type == "Sequence" {
                for inner in step["pretokenizers"] as? [[String: Any]] ?? [] { try add(inner) }
                return
            }
            guard !sawByteLevel else {
                throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote(type)) after ByteLevel is not supported")
            }
            switch type {
            case "Split":
                let behavior = try Self.behavior(step["behavior"], path: path)
                steps.append(.split(try Self.pattern(step["pattern"], what: "Split pre-tokenizer", path: path), behavior,
                                    invert: step["invert"] as? Bool ?? false))
            case "ByteLevel":
                if step["add_prefix_space"] as? Bool ?? true { steps.append(.prefixSpace) }
                if step["use_regex"] as? Bool ?? true { steps.append(.split(.regex(gpt2Pattern), .isolated, invert: false)) }
                sawByteLevel = true
            case "Digits":
                // Each digit (Rust's char::is_numeric, i.e. \p{N}) is a match; grouped into runs unless individual.
                let individual = step["individual_digits"] as? Bool ?? false
                steps.append(.split(.regex(#"\p{N}"#), individual ? .isolated : .contiguous, invert: false))
            case "Punctuation":
                // tokenizers' is_punc: Unicode punctuation or ASCII punctuation (which includes $+<=>^`|~).
                steps.append(.split(.regex(#"[\p{P}$+<=>^`|~]"#), try Self.behavior(step["behavior"], path: path), invert: false))
            case "WhitespaceSplit":
                steps.append(.split(.regex(#"\s+"#), .removed, invert: false))
            case "Whitespace":
                steps.append(.split(.regex(#"\w+|[^\w\s]+"#), .removed, invert: true))
            default:
                // "Metaspace" (SentencePiece-style BPE) belongs with the SentencePiece tokenizers: it is refused here
                // until a Step case for it exists.
                throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote(type)) is not supported")
            }
        }
        try add(pre)
        guard sawByteLevel else {
            throw FormatError.malformed(path: path, what: "pre-tokenizer is not byte-level (no ByteLevel step)")
        }
        return steps
    }

    /// Hugging Face normalizers, `Sequence`s flattened. Refused: anything that would need tables we do not
    /// have (Precompiled: SentencePiece's charsmap; BertNormalizer).
    static func normalizers(_ value: Any?, path: String) throws -> [PreTokenizerSpec.Normalizer] {
        guard let normalizer = value as? [String: Any] else { return [] }
        let type = normalizer["type"] as? String ?? "(none)"
        switch type {
        case "Sequence":
            return try (normalizer["normalizers"] as? [Any] ?? []).flatMap { try normalizers($0, path: path) }
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Lowercase": return [.lowercase]
        case "Prepend":
            guard let text = normalizer["prepend"] as? String else {
                throw FormatError.malformed(path: path, what: "Prepend normalizer has no 'prepend' string")
            }
            return [.prepend(text)]
        case "Replace":
            guard let content = normalizer["content"] as? String else {
                throw FormatError.malformed(path: path, what: "Replace normalizer has no 'content' string")
            }
            return [.replace(try pattern(normalizer["pattern"], what: "Replace normalizer", path: path), with: content)]
        case "Strip":
            return [.strip(left: normalizer["strip_left"] as? Bool ?? true, right: normalizer["strip_right"] as? Bool ?? true)]
        default:
            throw FormatError.malformed(path: path, what: "normalizer \(FormatError.quote(type)) is not supported")
        }
    }

    /// `{"Regex": …}` or `{"String": …}`.
    static func pattern(_ value: Any?, what: String, path: String) throws -> PreTokenizerSpec.Pattern {
        let source = value as? [String: Any]
        if let regex = source?["Regex"] as? String { return .regex(regex) }
        if let literal = source?["String"] as? String { return .string(literal) }
        throw FormatError.malformed(path: path, what: "\(what) has no Regex or String pattern")
    }

    static func behavior(_ value: Any?, path: String) throws -> PreTokenizerSpec.SplitBehavior {
        let name = value as? String ?? "Isolated"
        guard let behavior = PreTokenizerSpec.SplitBehavior(rawValue: name) else {
            throw FormatError.malformed(path: path, what: "split behavior \(FormatError.quote(name)) is not supported")
        }
        return behavior
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
        if model == "gemma4" {   // llama.cpp sets the pre-tokenizer itself for this model, whatever `pre` says
            self = try Self.rawUTF8BPE(gguf: gguf, pre: "gemma4")
            return
        }
        guard model == "gpt2" else {
            throw FormatError.malformed(path: path, what: "tokenizer model \(FormatError.quote(model)) is not supported (supported: 'gpt2', byte-level BPE; 'llama', SentencePiece; 'gemma4', raw-UTF-8 BPE)")
        }
        // A BPE vocabulary whose pre-tokenizer llama.cpp runs on raw UTF-8 (tokens spelled with ▁, not GPT-2's bytes).
        if let pre = meta["tokenizer.ggml.pre"]?.string, Self.rawUTF8BPENames[pre] != nil {
            self = try Self.rawUTF8BPE(gguf: gguf, pre: pre)
            return
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

        var added: [AddedToken] = []
        if let types = meta["tokenizer.ggml.token_type"]?.array {
            guard types.count == tokens.count else {
                throw FormatError.malformed(path: path, what: "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
            }
            for (id, type) in types.enumerated() where type.int == 3 || type.int == 4 {
                added.append(AddedToken(id: id, content: tokens[id], special: type.int == 3))
            }
        }

        // No name means llama.cpp's "default" rule (it warns that quality will suffer; so do we, by matching it).
        let pre = meta["tokenizer.ggml.pre"]?.string ?? "default"
        guard let rule = PreTokenizerTable.rule(named: pre) else {
            throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote(pre)) is not one llama.cpp knows (tokenizer.ggml.pre; see Docs/FORMATS.md)")
        }
        guard rule.byteLevel else {
            throw FormatError.malformed(path: path, what: "pre-tokenizer \(FormatError.quote(pre)) works on raw UTF-8 (SentencePiece-style BPE), which is not supported")
        }
        func tokenId(_ key: String) throws -> Int? {
            guard let value = meta[key] else { return nil }
            guard let id = value.int, id >= 0, id < tokens.count else {
                throw FormatError.malformed(path: path, what: "\(key) is not a token id below \(tokens.count)")
            }
            return id
        }
        let bos = try rule.noBos ? nil : tokenId("tokenizer.ggml.bos_token_id")
        let addBos = (meta["tokenizer.ggml.add_bos_token"]?.bool ?? rule.addBosByDefault) && bos != nil
        self.init(tokens: tokens, merges: merges, addedTokens: added, preTokenizer: rule.spec, ignoreMerges: rule.ignoreMerges,
                  eosTokenId: try tokenId("tokenizer.ggml.eos_token_id"), bosTokenId: bos, addBosToken: addBos)
    }
}
