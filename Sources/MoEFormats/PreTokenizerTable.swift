/// Every `tokenizer.ggml.pre` name llama.cpp knows, and the rule it stands for: the regexes llama.cpp's
/// `llm_tokenizer_bpe` constructor (src/llama-vocab.cpp, llama-cpp-python 0.3.36's vendored copy) applies in
/// turn, each cutting every piece the previous ones left, matches and the text between them all kept
/// ("Isolated"), plus the per-name switches of `llama_vocab::impl::load` that change ids.
///
/// The regexes are llama.cpp's data, generated from its source with escapes for every non-ASCII character
/// (several change under NFC, e.g. U+2126 OHM SIGN in deepseek-llm's letter class, and an editor must not
/// touch them). Where llama.cpp rewrote a tokenizer.json pattern for its own regex engine and kept the
/// original in a comment ("original"), the original is used: ICU runs it as written, and it is what
/// Hugging Face `tokenizers` runs, the reference for the suite's expected ids. Two names stand for
/// hand-written matchers in llama.cpp and get the pattern those matchers implement (kimi-k2, afmoe).
public enum PreTokenizerTable {
    /// What a name means beyond its regexes.
    public struct Rule: Sendable, Equatable {
        public var regexes: [String]
        /// A piece that is itself a vocabulary entry is that token, without merges (llama.cpp `ignore_merges`,
        /// Hugging Face BPE `ignore_merges`).
        public var ignoreMerges = false
        /// llama.cpp adds BOS for these names unless the file says otherwise (`tokenizer.ggml.add_bos_token`).
        public var addBosByDefault = false
        /// llama.cpp forgets the BOS id for these names (GLM).
        public var noBos = false
        /// GPT-2's byte→character map (`false`: raw UTF-8 with "▁" for spaces, SentencePiece-style BPE).
        public var byteLevel = true

        public var spec: PreTokenizerSpec { PreTokenizerSpec(regexes: regexes) }
    }

    /// The rule for a `tokenizer.ggml.pre` value, nil for a name llama.cpp does not know either.
    public static func rule(named name: String) -> Rule? {
        for entry in entries where entry.names.contains(name) { return entry.rule }
        return nil
    }

    /// All known names, for error messages and documentation.
    public static var names: [String] { entries.flatMap(\.names) }

    /// The name to write into a GGUF file for a tokenizer.json pre-tokenizer, if llama.cpp has one whose
    /// regexes are the same. The first name of the first matching family is llama.cpp's usual one.
    public static func name(for spec: PreTokenizerSpec) -> String? {
        guard spec.normalizers.isEmpty else { return nil }
        if spec == PreTokenizerSpec(regexes: [gpt2WithFinalWhitespace]) { return "gpt-2" }
        return entries.first { $0.rule.spec == spec }?.names.first
    }

    /// GPT-2's regex as Hugging Face's ByteLevel writes it: llama.cpp's `gpt2` plus a final `|\s+`, which changes
    /// no piece (text no alternative matches becomes a piece of its own anyway).
    public static let gpt2WithFinalWhitespace = gpt2[0] + #"|\s+"#

    // The families, in llama-vocab.cpp's order; aliases as `llama_vocab::impl::load` maps them.
    private static let entries: [(names: [String], rule: Rule)] = [
        (["default"], Rule(regexes: defaultRule)),
        (["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
         Rule(regexes: llama3, ignoreMerges: true, addBosByDefault: true)),
        (["jais-2"], Rule(regexes: jais2)),
        (["dbrx", "smaug-bpe"], Rule(regexes: dbrx)),
        (["deepseek-llm"], Rule(regexes: deepseekLlm)),
        (["deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"], Rule(regexes: deepseek3Llm)),
        (["spark2_5"], Rule(regexes: spark25)),
        (["youtu"], Rule(regexes: youtu, ignoreMerges: true)),
        (["deepseek-coder"], Rule(regexes: deepseekCoder)),
        (["falcon"], Rule(regexes: falcon)),
        (["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"], Rule(regexes: starcoder)),
        (["gpt-2", "mpt", "olmo", "jais", "trillion", "granite-docling", "phi-2", "jina-es", "jina-de", "gigachat",
          "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe"],
         Rule(regexes: gpt2)),
        (["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open", "megrez"], Rule(regexes: stablelm2)),
        (["qwen35"], Rule(regexes: qwen35)),
        (["poro-chat", "bloom", "gpt3-finnish"], Rule(regexes: poro)),
        (["chatglm-bpe"], Rule(regexes: chatglm4, noBos: true)),
        (["glm4", "glm5"], Rule(regexes: chatglm4, ignoreMerges: true, noBos: true)),
        (["viking"], Rule(regexes: viking)),
        (["tekken"], Rule(regexes: tekken, ignoreMerges: true, addBosByDefault: true)),
        (["chameleon"], Rule(regexes: chameleon, addBosByDefault: true)),
        (["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"], Rule(regexes: gpt4o)),
        (["granite-embed-multi-97m"], Rule(regexes: graniteEmbMulti, ignoreMerges: true)),
        (["tiny_aya", "cohere2moe"], Rule(regexes: tinyAya)),
        (["kimi-k2"], Rule(regexes: kimiK2)),
        (["superbpe"], Rule(regexes: superbpe)),
        (["bailingmoe", "bailingmoe2", "llada-moe"], Rule(regexes: bailingmoe)),
        (["seed-coder"], Rule(regexes: seedCoder)),
        (["ufakzeka"], Rule(regexes: ufakzeka)),
        (["grok-2"], Rule(regexes: grok2)),
        (["afmoe"], Rule(regexes: afmoe)),
        (["laguna"], Rule(regexes: laguna)),
        (["exaone-moe"], Rule(regexes: exaoneMoe)),
        (["gemma4", "granite-embed-multi-311m"], Rule(regexes: gemma4, byteLevel: false)),
        (["sarvam-moe"], Rule(regexes: sarvamMoe, byteLevel: false)),
        (["minicpm5"], Rule(regexes: minicpm5, ignoreMerges: true)),
        (["whitespace"], Rule(regexes: whitespace, byteLevel: false)),
    ]

    // MARK: - The regexes (generated by Tools/scripts/gen-pretokenizer-table.py; see the note at the top)

    static let llama3: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]  // original
    static let jais2: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"#]  // original
    static let dbrx: [String] = [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
    static let deepseekLlm: [String] = [
        #"[\#u{D}\#u{A}]"#,
        #"\s?[A-Za-z\#u{B5}\#u{C0}-\#u{D6}\#u{D8}-\#u{F6}\#u{F8}-\#u{1BA}\#u{1BC}-\#u{1BF}\#u{1C4}-\#u{293}\#u{295}-\#u{2AF}\#u{370}-\#u{373}\#u{376}\#u{377}\#u{37B}-\#u{37D}\#u{37F}\#u{386}\#u{388}-\#u{38A}\#u{38C}\#u{38E}-\#u{3A1}\#u{3A3}-\#u{3F5}\#u{3F7}-\#u{481}\#u{48A}-\#u{52F}\#u{531}-\#u{556}\#u{10A0}-\#u{10C5}\#u{13A0}-\#u{13F5}\#u{13F8}-\#u{13FD}\#u{1C90}-\#u{1CBA}\#u{1CBD}-\#u{1CBF}\#u{1D00}-\#u{1D2B}\#u{1D6B}-\#u{1D77}\#u{1D79}-\#u{1D9A}\#u{1E00}-\#u{1F15}\#u{1F18}-\#u{1F1D}\#u{1F20}-\#u{1F45}\#u{1F48}-\#u{1F4D}\#u{1F50}-\#u{1F57}\#u{1F59}\#u{1F5B}\#u{1F5D}\#u{1F5F}-\#u{1F7D}\#u{1F80}-\#u{1FB4}\#u{1FB6}-\#u{1FBC}\#u{1FBE}\#u{1FC2}-\#u{1FC4}\#u{1FC6}-\#u{1FCC}\#u{1FD0}-\#u{1FD3}\#u{1FD6}-\#u{1FDB}\#u{1FE0}-\#u{1FEC}\#u{1FF2}-\#u{1FF4}\#u{1FF6}-\#u{1FFC}\#u{2102}\#u{2107}\#u{210A}-\#u{2113}\#u{2115}\#u{2119}-\#u{211D}\#u{2124}\#u{2126}\#u{2128}\#u{212A}-\#u{212D}\#u{212F}-\#u{2134}\#u{2139}\#u{213C}-\#u{213F}\#u{2145}-\#u{2149}\#u{214E}\#u{2183}\#u{2184}\#u{2C00}-\#u{2C7B}\#u{2C7E}-\#u{2CE4}\#u{2CEB}-\#u{2CEE}\#u{2CF2}\#u{2CF3}\#u{A640}-\#u{A66D}\#u{A680}-\#u{A69B}\#u{A722}-\#u{A76F}\#u{A771}-\#u{A787}\#u{A78B}-\#u{A78E}\#u{AB70}-\#u{ABBF}\#u{FB00}-\#u{FB06}\#u{FB13}-\#u{FB17}\#u{FF21}-\#u{FF3A}\#u{FF41}-\#u{FF5A}\#u{10400}-\#u{1044F}\#u{104B0}-\#u{104D3}\#u{104D8}-\#u{104FB}\#u{10C80}-\#u{10CB2}\#u{10CC0}-\#u{10CF2}\#u{118A0}-\#u{118DF}\#u{1E900}-\#u{1E943}]+"#,
        #"\s?[!-/:-~\#u{FF01}-\#u{FF0F}\#u{FF1A}-\#u{FF5E}\#u{2018}-\#u{201F}\#u{3000}-\#u{3002}]+"#,
        #"\s+$"#,
        #"[\#u{4E00}-\#u{9FA5}\#u{800}-\#u{4E00}\#u{AC00}-\#u{D7FF}]+"#,
        #"\p{N}+"#,
    ]
    static let deepseek3Llm: [String] = [
        #"\p{N}{1,3}"#,
        #"[\#u{4E00}-\#u{9FA5}\#u{3040}-\#u{309F}\#u{30A0}-\#u{30FF}]+"#,
        ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\##u{D}\##u{A}\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\##u{D}\##u{A}]*|\s*[\##u{D}\##u{A}]+|\s+(?!\S)|\s+"##,
    ]
    static let spark25: [String] = [
        #"\p{N}{1,3}"#,
        #"[\#u{4E00}-\#u{9FA5}\#u{3040}-\#u{309F}\#u{30A0}-\#u{30FF}]+"#,
        ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\##u{D}\##u{A}\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\##u{D}\##u{A}]|\s+(?!\S)|\s+"##,
        #"\p{N}"#,
    ]
    static let youtu: [String] = [
        #"[\#u{AC00}-\#u{D7A3}\#u{3131}-\#u{318E}]+|[\#u{FF01}\#u{2026}\#u{201C}\#u{201D}\#u{2018}\#u{2019}\#u{2014}\#u{FF1A}\#u{FF1B}\#u{FF0C}\#u{3001}-\#u{303F}\#u{FE30}-\#u{FE4F}]+|[\#u{3105}-\#u{312F}]+|[\#u{4E00}-\#u{9FA5}\#u{3040}-\#u{309F}\#u{30A0}-\#u{30FF}]+"#,
        #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]
    static let deepseekCoder: [String] = [
        #"[\#u{D}\#u{A}]"#,
        #"\s?\p{L}+"#,
        #"\s?\p{P}+"#,
        #"[\#u{4E00}-\#u{9FA5}\#u{800}-\#u{4E00}\#u{AC00}-\#u{D7FF}]+"#,
        #"\p{N}"#,
    ]
    static let falcon: [String] = [
        #"[\p{P}\$\+<=>\^~\|`]+"#,
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
        #"[0-9][0-9][0-9]"#,
    ]
    static let starcoder: [String] = [
        #"\p{N}"#,
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
    ]
    static let gpt2: [String] = [#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#]
    static let stablelm2: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]  // original
    static let qwen35: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]  // original
    static let poro: [String] = [#" ?[^(\s|.,!?\#u{2026}\#u{3002}\#u{FF0C}\#u{3001}\#u{964}\#u{6D4}\#u{60C})]+"#]
    static let chatglm4: [String] = [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
    static let viking: [String] = [
        #" ?[^(\s|.,!?\#u{2026}\#u{3002}\#u{FF0C}\#u{3001}\#u{964}\#u{6D4}\#u{60C})]+"#,
        #"\p{N}"#,
    ]
    static let tekken: [String] = [#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]  // original
    static let chameleon: [String] = [
        #"<sentinel:[0-9]+>"#,
        #"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"#,
        #"([\t\n]|    |  )"#,
        #"\p{N}"#,
        #"[\p{P}!-/:-@\[-`{-~]"#,
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
    ]
    static let gpt4o: [String] = [#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]  // original
    static let graniteEmbMulti: [String] = [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
    static let tinyAya: [String] = [  // original
        #"\d{1,3}(?=(?:\d{3})*\b)"#,
        #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]
    /// Kimi-K2's pattern from its tokenization_kimi.py (quoted in llama.cpp's unicode.cpp); llama.cpp's table
    /// holds only `\p{Han}+`, the name of a hand-written matcher for this whole pattern.
    static let kimiK2: [String] = [#"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
    static let superbpe: [String] = [
        #"\p{N}+"#,
        #"(?=(\d{3})+(?!\d))"#,
    ]
    static let bailingmoe: [String] = [#"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#]  // original
    static let seedCoder: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\#u{D}\#u{A}\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\#u{D}\#u{A}]+|\s*[\#u{D}\#u{A}]+|\s+(?!\S)|\s+"#]  // original
    static let ufakzeka: [String] = [#"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
    static let grok2: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]  // original
    static let afmoe: [String] = [
        // llama.cpp names a hand-written matcher `\p{AFMoE_digits}`: digit runs cut into threes from the right.
        #"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))"#,
        #"[\#u{4E00}-\#u{9FFF}\#u{3400}-\#u{4DBF}\#u{8C48}-\#u{FAFF}\#u{3040}-\#u{309F}\#u{30A0}-\#u{30FF}\#u{FF65}-\#u{FF9F}\#u{2F00}-\#u{2FDF}\#u{E40}-\#u{E7F}\#u{E80}-\#u{EFF}\#u{1780}-\#u{17FF}\#u{1000}-\#u{109F}\#u{AA60}-\#u{AA7F}\#u{A9E0}-\#u{A9FF}\#u{AC00}-\#u{D7AF}\#u{1100}-\#u{11FF}]+"#,
        ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
    ]
    static let laguna: [String] = [
        #"[^\n]+|[\n]+"#,
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]
    static let exaoneMoe: [String] = [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#]  // original
    static let gemma4: [String] = [#"[^\n]+|[\n]+"#]
    static let sarvamMoe: [String] = [#"[^\n]+|[\n]+"#]
    static let minicpm5: [String] = [  // original
        #"\p{N}{1,3}"#,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]
    static let whitespace: [String] = [#"\S+"#]
    static let defaultRule: [String] = [
        #"[\p{P}\$\+<=>\^~\|]+"#,
        #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
        #"\p{N}+"#,
        #"[0-9][0-9][0-9]"#,
    ]
}
