import Foundation
import MoEFormats
import Testing
import TestSupport

/// `moe tokenize` as a user runs it, on the SentencePiece model of ../shared (tiny-mixtral-spm) and the
/// default byte-level model: the three files a SentencePiece tokenizer comes in, a GGUF file that holds only a
/// vocabulary, --json, --no-special, --file's exact bytes, and the one-line errors.
/// Paths and expected ids of the tests below.
enum SPMModel {
    static let model = SharedData.root + "/models/tiny-mixtral-spm"
    static let gguf = model + "/tiny-mixtral-spm-bf16.gguf"
    static let available = FileManager.default.fileExists(atPath: gguf)
    /// golden.json's first prompt, "In the beginning God created", as transformers tokenized it (BOS first).
    static let prompt = "In the beginning God created"
    static let ids = [1, 811, 273, 1788, 3306, 804, 3761]
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: CLI.binary) && SPMModel.available,
                "moe binary or ../shared/models/tiny-mixtral-spm absent"))
struct TokenizeCLITests {
    static let model = SPMModel.model, gguf = SPMModel.gguf, prompt = SPMModel.prompt, ids = SPMModel.ids

    static func ok(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try CLI.run(["tokenize"] + args)
        #expect(r.status == 0 && r.stderr.isEmpty, "\(args): status \(r.status), stderr \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout
    }

    @Test("ids as llama-tokenize --ids prints them, from the GGUF file, the folder, and tokenizer.model alone")
    func threeFiles() throws {
        let dir = try TempDir("moe-tokenize")
        defer { dir.cleanup() }
        for name in ["config.json", "tokenizer.model"] {
            try FileManager.default.copyItem(atPath: Self.model + "/" + name, toPath: dir.file(name))
        }
        let expected = "[" + Self.ids.map(String.init).joined(separator: ", ") + "]\n"
        for path in [Self.gguf, Self.model, dir.path] {
            #expect(try Self.ok(["-m", path, "-p", Self.prompt]) == expected, "\(path)")
        }
    }

    @Test("--json, --no-special and --show-pieces")
    func options() throws {
        let json = try Self.ok(["-m", Self.gguf, "-p", Self.prompt, "--json"])
        #expect(json == #"{"token_ids":[1,811,273,1788,3306,804,3761]}"# + "\n")
        // "<s>" is the BOS token when special text is parsed (with llama.cpp's space after it), text otherwise.
        let parsed = try Self.ok(["-m", Self.gguf, "-p", "<s>" + Self.prompt])
        #expect(parsed == "[1, 1, 811, 273, 1788, 3306, 804, 3761]\n")
        let plain = try Self.ok(["-m", Self.gguf, "-p", "<s>" + Self.prompt, "--no-special", "--json"])
        let plainIds = try #require((try JSONSerialization.jsonObject(with: Data(plain.utf8)) as? [String: Any])?["token_ids"] as? [Int])
        #expect(plainIds.first != 1 && !plainIds.contains(1) && plainIds.count > Self.ids.count)
        let pieces = try Self.ok(["-m", Self.gguf, "-p", "In", "--show-pieces"])
        #expect(pieces == "     1 -> '<s>'\n   811 -> ' In'\n")
        // The byte-level default model adds no BOS.
        #expect(try Self.ok(["-p", "Hello<|endoftext|>", "--json"]) == #"{"token_ids":[40,277,447,0]}"# + "\n")
    }

    @Test("--file: the bytes exactly, a final newline included, invalid UTF-8 as byte tokens")
    func file() throws {
        let dir = try TempDir("moe-tokenize")
        defer { dir.cleanup() }
        try Data((Self.prompt + "\n").utf8).write(to: URL(fileURLWithPath: dir.file("prompt.txt")))
        #expect(try Self.ok(["-m", Self.gguf, "-f", dir.file("prompt.txt"), "--json"])
            == #"{"token_ids":[1,811,273,1788,3306,804,3761,13]}"# + "\n", "<0x0A> is id 13")
        try Data([0x61, 0x62, 0xFF]).write(to: URL(fileURLWithPath: dir.file("bad.txt")))
        // ▁ab, then <0xFF> (id 3 + 255).
        #expect(try Self.ok(["-m", Self.gguf, "-f", dir.file("bad.txt"), "--no-special"]) == "[667, 258]\n")
    }

    @Test("a GGUF file with the vocabulary and no tensors is enough")
    func vocabularyOnlyGGUF() throws {
        let dir = try TempDir("moe-tokenize")
        defer { dir.cleanup() }
        let source = try GGUFFile(path: Self.gguf)
        let writer = try GGUFWriter(path: dir.file("vocab.gguf"))
        for key in source.metadataKeys where key.hasPrefix("tokenizer.") || key == "general.architecture" {
            try writer.setMetadata(key, source.metadata[key]!)
        }
        try writer.finish()
        #expect(try GGUFFile(path: dir.file("vocab.gguf")).tensors.isEmpty)
        #expect(try Self.ok(["-m", dir.file("vocab.gguf"), "-p", Self.prompt, "--json"]) == #"{"token_ids":[1,811,273,1788,3306,804,3761]}"# + "\n")
    }

    @Test("errors: one line naming the file, exit status 1")
    func errors() throws {
        let dir = try TempDir("moe-tokenize")
        defer { dir.cleanup() }
        try Data("not a protobuf at all".utf8).write(to: URL(fileURLWithPath: dir.file("tokenizer.model")))
        let cases: [([String], String)] = [
            (["-m", Self.gguf, "-f", dir.file("missing.txt")], dir.file("missing.txt") + ": file not found"),
            (["-m", dir.file("missing.gguf"), "-p", "x"], dir.file("missing.gguf") + ": file not found"),
            (["-m", dir.path, "-p", "x"], dir.file("tokenizer.model") + ": malformed file"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(["tokenize"] + args)
            #expect(r.status == 1 && r.stdout.isEmpty, "\(args): \(r.status)")
            #expect(r.stderr.hasPrefix("moe: error: " + message) && r.stderr.filter { $0 == "\n" }.count == 1, "\(args): \(r.stderr)")
        }
        let both = try CLI.run(["tokenize", "-m", Self.gguf, "-p", "x", "-f", "y"])
        #expect(both.status != 0 && both.stderr.contains("exactly one of --prompt TEXT and --file F"))
    }
}

/// `moe generate` on the SentencePiece model prints the right text: the prompt tokenized as transformers did,
/// the greedy tokens of golden.json, and their text as transformers decodes it, except for two deliberate
/// differences: control tokens ("</s>") print nothing, and a continuation keeps the space its first token
/// starts with (transformers' decode of the continuation alone drops it, as the prompt is not in front).
@Suite(.enabled(if: FileManager.default.fileExists(atPath: CLI.binary) && SPMModel.available,
                "moe binary or ../shared/models/tiny-mixtral-spm absent"))
struct GenerateSentencePieceCLITests {
    struct Golden: Decodable {
        struct Prompt: Decodable {
            let text: String
            let ids: [Int]
            let greedy_ids: [Int]
            let greedy_text: String
        }
        let prompts: [Prompt]
    }

    @Test("prompt ids, greedy tokens and their text, from the GGUF file and the folder", arguments: ["GGUF", "folder"])
    func greedyText(source: String) throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: SPMModel.model + "/golden.json")))
        let model = source == "GGUF" ? SPMModel.gguf : SPMModel.model
        for prompt in golden.prompts {
            let r = try CLI.run(["generate", "-m", model, "-p", prompt.text, "-n", "\(prompt.greedy_ids.count)", "--ignore-eos",
                                 "--json", "--activations", "f32", "--threads", "1"])
            #expect(r.status == 0, "\(r.stderr)")
            let out = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(out["prompt_ids"] as? [Int] == prompt.ids)
            #expect(out["token_ids"] as? [Int] == prompt.greedy_ids)
            let text = try #require(out["text"] as? String)
            let expected = prompt.greedy_text.replacingOccurrences(of: "</s>", with: "")
            #expect(text == expected || text == " " + expected, "\(text.debugDescription) vs \(expected.debugDescription)")
        }
    }
}
