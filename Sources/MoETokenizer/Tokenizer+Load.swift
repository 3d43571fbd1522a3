import MoEFormats

extension Tokenizer {
    /// The tokenizer of the model at `path` — a GGUF file (weights or vocabulary only) or a Hugging Face
    /// folder (tokenizer.json, else tokenizer.model) — read without touching the weights. A spec whose parts
    /// do not fit together (a merge of unknown tokens, an id past the vocabulary) becomes a FormatError that
    /// names the tokenizer's file, like every other problem with it.
    public static func load(modelPath path: String) throws -> Tokenizer {
        let spec = try TokenizerSpec(modelPath: path)
        do { return try Tokenizer(spec: spec) } catch let e as TokenizerError {
            throw FormatError.malformed(path: TokenizerSpec.file(forModel: path), what: FormatError.clip(e.description, limit: 200))
        }
    }

    /// How `moe tokenize --show-pieces` shows one token: special tokens as the vocabulary spells them, others
    /// as the bytes they stand for; nil when those bytes are not valid UTF-8 on their own (a byte token).
    public func displayPiece(_ id: Int) -> (text: String, bytes: [UInt8], validUTF8: Bool) {
        if isSpecial(id) || (decodeBytes([id]).isEmpty && tokenString(id) != nil) {
            let text = tokenString(id) ?? ""
            return (text, Array(text.utf8), true)
        }
        let bytes = decodeBytes([id])
        let text = String(decoding: bytes, as: UTF8.self)
        return (text, bytes, text.utf8.elementsEqual(bytes))
    }
}
