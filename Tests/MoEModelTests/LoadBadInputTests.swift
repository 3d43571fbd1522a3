import Foundation
import MoEFormats
import MoEModel
import Testing

/// Bad tokenizer files and broken checkpoint folders, loaded the way `moe` loads a model: each ends in a
/// FormatError naming the file (the tokenizer's own errors included), never a crash.
struct LoadBadInputTests {
    static func expectOneLine(_ error: FormatError?, startingWith path: String, saying phrase: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        guard let text = error?.description else { Issue.record("no FormatError", sourceLocation: sourceLocation); return }
        #expect(text.hasPrefix(path + ": ") && !text.contains("\n"), "\(text)", sourceLocation: sourceLocation)
        #expect(text.contains(phrase), "'\(text)' should say '\(phrase)'", sourceLocation: sourceLocation)
    }

    /// The tiny tokenizer.json with `edit` applied to its parsed object.
    static func tokenizerJSON(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: TinyTokenizer.json()) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    @Test("a malformed or missing tokenizer.json is named")
    func badTokenizerJSON() throws {
        let fixture = try TinyFixture(.olmoe)
        let path = fixture.folder + "/tokenizer.json"
        try Data(#"{"model": {"type": "BPE", "vocab": {"#.utf8).write(to: URL(fileURLWithPath: path))
        let e = ConfigErrorTests.loadError(fixture.folder)
        guard case .badJSON(path, _)? = e else { Issue.record("\(String(describing: e))"); return }
        try FileManager.default.removeItem(atPath: path)
        #expect(ConfigErrorTests.loadError(fixture.folder) == .missingFile(path: path))
    }

    @Test("a merge of tokens the vocabulary lacks is reported against the tokenizer's file")
    func mergeOfUnknownTokens() throws {
        let fixture = try TinyFixture(.qwen3_moe, editGGUF: { plan in
            let merges = TinyTokenizer.merges.map { GGUFValue.string($0.0 + " " + $0.1) } + [.string("zz qq")]
            plan.setMetadata("tokenizer.ggml.merges", .array(.string, merges))
        })
        let path = fixture.folder + "/tokenizer.json"
        try Self.tokenizerJSON { object in
            var model = object["model"] as! [String: Any]
            model["merges"] = (model["merges"] as! [[String]]) + [["zz", "qq"]]
            object["model"] = model
        }.write(to: URL(fileURLWithPath: path))
        let hf = ConfigErrorTests.loadError(fixture.folder)
        Self.expectOneLine(hf, startingWith: path, saying: "merge 43 uses 'zz', which is not in the vocabulary")
        let gguf = ConfigErrorTests.loadError(fixture.gguf)
        Self.expectOneLine(gguf, startingWith: fixture.gguf, saying: "merge 43 uses 'zz', which is not in the vocabulary")
    }

    @Test("a tokenizer with ids beyond the model's vocabulary is refused (they would index past the embedding)")
    func tokenizerLargerThanModel() throws {
        let fixture = try TinyFixture(.mixtral, editHF: { c in
            c.config["vocab_size"] = 280
            c.config["eos_token_id"] = 2
            c.config["bos_token_id"] = 1
        })
        let e = ConfigErrorTests.loadError(fixture.folder)
        Self.expectOneLine(e, startingWith: fixture.folder + "/tokenizer.json", saying: "the tokenizer has 300 tokens, the model only 280")
    }

    @Test("a shard listed in the index but absent from the folder is named")
    func missingShard() throws {
        let fixture = try TinyFixture(.olmoe)   // OLMoE's fixture is sharded
        let shard = fixture.folder + "/model-00002-of-00002.safetensors"
        try FileManager.default.removeItem(atPath: shard)
        #expect(ConfigErrorTests.loadError(fixture.folder) == .missingShard(path: shard, index: fixture.folder + "/model.safetensors.index.json"))
    }

    @Test("a truncated GGUF checkpoint is named, whichever tensor the cut falls in", arguments: [0.3, 0.6, 0.99])
    func truncatedGGUF(fraction: Double) throws {
        let fixture = try TinyFixture(.qwen2_moe)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture.gguf))
        try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: URL(fileURLWithPath: fixture.gguf))
        let e = ConfigErrorTests.loadError(fixture.gguf)
        Self.expectOneLine(e, startingWith: fixture.gguf, saying: "truncated: ")
    }
}
