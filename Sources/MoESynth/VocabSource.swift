import Foundation
import MoEFormats

/// Where a synthetic model's tokenizer comes from: a Hugging Face folder (tokenizer.json, tokenizer_config.json)
/// and/or a GGUF file whose `tokenizer.ggml.*` metadata is llama.cpp's own encoding of the same tokenizer.
/// GGUF output copies that metadata verbatim; safetensors output copies the JSON files.
public struct VocabSource: Sendable {
    public let path: String
    /// `tokenizer.ggml.*` keys and values, in the source file's order (nil without a GGUF file).
    public let ggufMetadata: [(key: String, value: GGUFValue)]?
    public let tokenizerJSON: String?
    public let tokenizerConfig: String?
    public let vocabSize: Int
    public let eosTokenId: Int?
    public let bosTokenId: Int?
    public let padTokenId: Int?

    /// `path`: a `.gguf` file, or a folder holding tokenizer.json and/or a `.gguf` file.
    public init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SynthError.vocab(path: path, reason: "no such file or folder")
        }
        var gguf: String?, json: String?, config: String?
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            // Any GGUF in the folder carries the tokenizer; prefer the unquantized one (smallest metadata read anyway).
            gguf = names.filter { $0.hasSuffix(".gguf") }.sorted { ($0.contains("bf16") ? 0 : 1, $0) < ($1.contains("bf16") ? 0 : 1, $1) }
                .first.map { path + "/" + $0 }
            if names.contains("tokenizer.json") { json = path + "/tokenizer.json" }
            if names.contains("tokenizer_config.json") { config = path + "/tokenizer_config.json" }
        } else {
            gguf = path
        }
        guard gguf != nil || json != nil else {
            throw SynthError.vocab(path: path, reason: "holds neither tokenizer.json nor a .gguf file")
        }
        tokenizerJSON = json
        tokenizerConfig = config
        if let gguf {
            let file = try GGUFFile(path: gguf)
            let keys = file.metadataKeys.filter { $0.hasPrefix("tokenizer.ggml.") }
            guard let tokens = file.metadata["tokenizer.ggml.tokens"]?.array else {
                throw SynthError.vocab(path: gguf, reason: "has no tokenizer.ggml.tokens")
            }
            ggufMetadata = keys.map { ($0, file.metadata[$0]!) }
            vocabSize = tokens.count
            eosTokenId = file.metadata["tokenizer.ggml.eos_token_id"]?.int
            bosTokenId = file.metadata["tokenizer.ggml.bos_token_id"]?.int
            padTokenId = file.metadata["tokenizer.ggml.padding_token_id"]?.int
        } else {
            let spec = try TokenizerSpec(tokenizerJSON: json!)
            ggufMetadata = nil
            vocabSize = spec.tokens.count
            eosTokenId = spec.eosTokenId
            bosTokenId = spec.bosTokenId
            padTokenId = spec.eosTokenId
        }
    }
}

/// What can stop `moe-synth`; each prints as one line.
public enum SynthError: Error, CustomStringConvertible, Equatable, Sendable {
    case vocab(path: String, reason: String)
    case badShape(String)
    case output(path: String, reason: String)
    case interrupted

    public var description: String {
        switch self {
        case let .vocab(path, reason): return "tokenizer source \(path): \(reason)"
        case let .badShape(reason): return reason
        case let .output(path, reason): return "\(path): \(reason)"
        case .interrupted: return "interrupted; the partial output was removed"
        }
    }
}
