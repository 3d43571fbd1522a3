import Foundation
import MoEFormats
import MoETokenizer

/// Where the shared reference data lives: `$MOE_SHARED`, else `<repo root>/../shared`.
enum ReferenceData {
    static let directory: String = {
        if let override = ProcessInfo.processInfo.environment["MOE_SHARED"], !override.isEmpty { return override }
        let repoRoot = URL(fileURLWithPath: #filePath) // <root>/Tests/MoETokenizerTests/ReferenceData.swift
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared").path
    }()

    static func path(_ relative: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(relative).path
    }

    static let model = "models/tiny-qwen3moe"
    static let tokenizerJSON = path("\(model)/tokenizer.json")
    static let gguf = path("\(model)/tiny-qwen3moe-bf16.gguf")
    static let validText = path("data/valid.txt")
    static let validIds = path("\(model)/valid-ids.bin")
    static let golden = path("\(model)/golden.json")

    static let isAvailable = [tokenizerJSON, gguf, validText, validIds, golden]
        .allSatisfy { FileManager.default.fileExists(atPath: $0) }
    static let unavailableMessage: Comment = "reference data not found at \(directory) (set MOE_SHARED)"

    /// valid-ids.bin: uint16 little-endian ids.
    static func loadValidIds() throws -> [Int] {
        let data = try Data(contentsOf: URL(fileURLWithPath: validIds))
        return stride(from: 0, to: data.count - 1, by: 2).map { Int(data[$0]) | Int(data[$0 + 1]) << 8 }
    }

    /// valid.txt's documents, as the reference tokenized them: split on the end-of-text marker.
    static func loadDocuments() throws -> [String] {
        let text = try String(contentsOfFile: validText, encoding: .utf8)
        return text.components(separatedBy: "<|endoftext|>")
    }

    struct Prompt: Decodable {
        let text: String
        let ids: [Int]
    }

    static func loadPrompts() throws -> [Prompt] {
        struct Golden: Decodable { let prompts: [Prompt] }
        return try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: golden))).prompts
    }
}

import Testing

/// The two files a tokenizer can come from; every reference test runs for both.
enum SpecSource: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case tokenizerJSON = "tokenizer.json"
    case gguf = "GGUF"

    var testDescription: String { rawValue }

    func loadSpec() throws -> TokenizerSpec {
        switch self {
        case .tokenizerJSON: return try TokenizerSpec(tokenizerJSON: ReferenceData.tokenizerJSON)
        case .gguf: return try TokenizerSpec(gguf: GGUFFile(path: ReferenceData.gguf))
        }
    }

    func loadTokenizer() throws -> Tokenizer {
        try Tokenizer(spec: loadSpec())
    }
}
