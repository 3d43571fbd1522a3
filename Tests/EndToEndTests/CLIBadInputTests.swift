import Foundation
import MoEFormats
import Testing

/// The `moe` binary on bad input: exit status 1 (not a signal), nothing on stdout, and on stderr exactly one
/// line `moe: error: <file>: <problem>` that names the file at fault.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: CLI.binary), "moe binary not built beside the tests"))
struct CLIBadInputTests {
    /// A fresh folder, removed when the value goes away.
    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("moe-cli-bad-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        @discardableResult
        func write(_ name: String, _ data: Data) throws -> String {
            let p = path + "/" + name
            try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: p))
            return p
        }

        @discardableResult
        func write(_ name: String, text: String) throws -> String { try write(name, Data(text.utf8)) }
    }

    /// A config.json that passes every check, so that the folder's next problem is the one reported.
    static let validConfig = #"{"model_type": "qwen3_moe", "vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32}"#

    /// Runs `moe` with `args` and checks the one-line error naming `file` and saying `phrase`.
    static func expectError(_ args: [String], file: String, saying phrase: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(args)
        #expect(r.status == 1, "\(args): status \(r.status), stderr \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "\(args): stdout \(r.stdout)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasSuffix("\n") && r.stderr.filter { $0 == "\n" }.count == 1, "\(args): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("moe: error: \(file): "), "\(args): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(phrase), "\(args): '\(r.stderr)' should say '\(phrase)'", sourceLocation: sourceLocation)
    }

    @Test("a truncated GGUF: cut in the header, the metadata and the tensor data", arguments: [20, 1000, 12_000_000])
    func truncatedGGUF(cut: Int) throws {
        let dir = try Scratch()
        let weights = CLI.repoRoot.appendingPathComponent("Weights/tiny-qwen3moe-Q8_0.gguf").path
        let whole = try #require(FileManager.default.contents(atPath: weights))
        let path = try dir.write("cut.gguf", whole.prefix(cut))
        try Self.expectError(["inspect", path], file: path, saying: "truncated: ")
        try Self.expectError(["generate", "-m", path, "-p", "Hello"], file: path, saying: "truncated: ")
    }

    @Test("a file with the wrong magic")
    func wrongMagic() throws {
        let dir = try Scratch()
        let path = try dir.write("model.gguf", Data("PK\u{3}\u{4} this is a zip file, not a model".utf8))
        try Self.expectError(["inspect", path], file: path, saying: "not a recognised model file (magic")
        try Self.expectError(["perplexity", "-m", path, "-f", path], file: path, saying: "not a recognised model file")
    }

    @Test("a folder whose config.json is malformed")
    func malformedConfig() throws {
        let dir = try Scratch()
        let config = try dir.write("model/config.json", text: #"{"model_type": "qwen3_moe", "hidden_size": 64,,}"#)
        try Self.expectError(["inspect", dir.path + "/model"], file: config, saying: "malformed JSON")
        try Self.expectError(["generate", "-m", dir.path + "/model", "-p", "Hi"], file: config, saying: "malformed JSON")
    }

    @Test("a folder with a missing shard")
    func missingShard() throws {
        let dir = try Scratch()
        try dir.write("model/config.json", text: Self.validConfig)
        let index = #"{"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors"}}"#
        try dir.write("model/model.safetensors.index.json", text: index)
        let w = SafetensorsWriter(path: dir.path + "/model/model-00001-of-00002.safetensors")
        try w.addTensor(name: "model.embed_tokens.weight", type: .f32, shape: [2], bytes: [UInt8](repeating: 0, count: 8))
        try w.finish()
        let shard = dir.path + "/model/model-00002-of-00002.safetensors"
        try Self.expectError(["inspect", dir.path + "/model"], file: shard, saying: "file not found (a shard listed in model.safetensors.index.json)")
    }

    @Test("an unknown architecture, in a config.json and in a GGUF file; both list the supported ones")
    func unknownArchitecture() throws {
        let dir = try Scratch()
        let config = try dir.write("model/config.json", text: Self.validConfig.replacingOccurrences(of: "qwen3_moe", with: "llama4_text"))
        try Self.expectError(["inspect", dir.path + "/model"], file: config, saying: "unsupported architecture 'llama4_text' (supported: qwen3_moe")
        let gguf = dir.path + "/bert.gguf"
        let w = try GGUFWriter(path: gguf)
        try w.setMetadata("general.architecture", .string("bert"))
        try w.finish()
        try Self.expectError(["generate", "-m", gguf, "-p", "Hi"], file: gguf, saying: "unsupported architecture 'bert' (supported: qwen3moe")
    }

    @Test("a name from the file with a line break still makes one line")
    func lineBreakInName() throws {
        let dir = try Scratch()
        let path = try dir.write("model.gguf", Data())
        let w = try GGUFWriter(path: path)
        try w.setMetadata("general.architecture", .string("evil\narch\r\nname"))
        try w.finish()
        try Self.expectError(["inspect", path], file: path, saying: "'evil\\u{a}arch\\u{d}\\u{a}name'")
    }
}
