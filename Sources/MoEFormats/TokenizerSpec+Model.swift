import Foundation

// Where a model keeps its tokenizer, and reading only that: `moe tokenize` needs the vocabulary, not the
// weights, and must work on a GGUF file with tokenizer metadata and no tensors (llama.cpp's
// ggml-vocab-*.gguf) and on a folder that holds nothing but tokenizer files.

extension TokenizerSpec {
    /// The file the tokenizer of the model at `path` is read from: a GGUF file itself; in a folder,
    /// `tokenizer.json` when present — transformers prefers it too (the "fast" tokenizer) — else the
    /// SentencePiece `tokenizer.model`. A folder with neither names tokenizer.json, the usual file.
    public static func file(forModel path: String) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return path }
        let folder = URL(fileURLWithPath: path)
        let json = folder.appendingPathComponent("tokenizer.json").path
        let model = folder.appendingPathComponent("tokenizer.model").path
        if !FileManager.default.fileExists(atPath: json), FileManager.default.fileExists(atPath: model) { return model }
        return json
    }

    /// Reads the tokenizer of the model at `path` (GGUF file or Hugging Face folder) and nothing else.
    /// GGUF: only the header and metadata are parsed (the file is mapped, its tensors are not touched).
    public init(modelPath path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError.missingFile(path: path) }
        let file = Self.file(forModel: path)
        if file == path {
            self = try TokenizerSpec(gguf: GGUFFile(path: path))
        } else if file.hasSuffix(".model") {
            self = try TokenizerSpec(sentencePieceModel: file)
        } else {
            self = try TokenizerSpec(tokenizerJSON: file)
        }
    }
}
