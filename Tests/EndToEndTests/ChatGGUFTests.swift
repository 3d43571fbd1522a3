import Foundation
import Testing
import TestSupport

/// The round-2 checkpoints made into GGUF files that carry a chat template (`moe-quantize --chat-template`),
/// then chatted with as a user does (`moe chat --message … --json`): the file's own template is the one used,
/// byte for byte the file given, and the reply comes from the prompt it renders.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: CLI.binary) && ToolBinary("moe-quantize").built, "moe / moe-quantize not built beside the tests"))
struct ChatGGUFTests {
    /// A checkpoint of issue 14 or 8, the real template of its family, and a text only that template writes.
    struct Case: CustomTestStringConvertible, Sendable {
        let model: String
        let template: String
        let marker: String
        var testDescription: String { model }
    }

    static let cases = [
        Case(model: "tiny-deepseek-v3", template: "deepseek-ai-DeepSeek-V3.1.jinja", marker: "<｜User｜>Hello, who are you?<｜Assistant｜>"),
        Case(model: "tiny-deepseek-v2", template: "deepseek-ai-DeepSeek-V3.2.jinja", marker: "<｜User｜>Hello, who are you?<｜Assistant｜>"),
        Case(model: "tiny-glm4-moe", template: "GLM-4.6.jinja", marker: "[gMASK]<sop><|user|>\nHello, who are you?<|assistant|>"),
        Case(model: "tiny-ernie45-moe", template: "Qwen-Qwen2.5-7B-Instruct.jinja", marker: "<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n"),
        Case(model: "tiny-mixtral-spm", template: "mistralai-Mistral-Nemo-Instruct-2407.jinja", marker: "[INST]Hello, who are you?[/INST]"),
        Case(model: "tiny-gpt-oss", template: "openai-gpt-oss-120b.jinja", marker: "<|start|>user<|message|>Hello, who are you?<|end|><|start|>assistant"),
    ]

    static func available(_ c: Case) -> Bool {
        FileManager.default.fileExists(atPath: "\(SharedData.root)/models/\(c.model)/\(c.model)-bf16.gguf")
            && FileManager.default.fileExists(atPath: "\(SharedData.root)/chat-templates/\(c.template)")
    }

    static func chat(_ args: [String]) throws -> [String: Any] {
        let r = try CLI.run(["chat", "--message", "Hello, who are you?", "--json", "-n", "6", "--temperature", "0", "-t", "2"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "stdout: \(r.stdout)")
    }

    @Test("a Q8_0 file written with --chat-template chats through that template", arguments: cases)
    func chatsThroughStoredTemplate(_ c: Case) throws {
        try #require(Self.available(c), "\(c.model) or \(c.template) is absent from ../shared")
        let dir = try TempDir("chat-gguf")
        defer { dir.cleanup() }
        let template = "\(SharedData.root)/chat-templates/\(c.template)"
        let input = "\(SharedData.root)/models/\(c.model)/\(c.model)-bf16.gguf"
        let plain = dir.file("plain.gguf"), withTemplate = dir.file("chat.gguf")
        for (out, extra) in [(plain, [String]()), (withTemplate, ["--chat-template", template])] {
            let q = try ToolBinary("moe-quantize").run([input, out, "--type", "q8_0", "-t", "2"] + extra)
            #expect(q.status == 0, "\(q.stderr)")
        }

        let own = try Self.chat(["-m", withTemplate])
        #expect(own["template"] as? String == "\(withTemplate) (tokenizer.chat_template)")
        let prompt = try #require(own["prompt"] as? String)
        #expect(prompt.contains(c.marker), "prompt: \(prompt)")
        let stats = try #require(own["stats"] as? [String: Any])
        #expect((stats["generated_tokens"] as? Int ?? 0) > 0)

        // The same weights without a stored template, given the file: the same prompt and the same reply.
        let given = try Self.chat(["-m", plain, "--template", template])
        #expect(given["template"] as? String == template)
        #expect(given["prompt"] as? String == prompt)
        #expect(given["content"] as? String == own["content"] as? String)
        #expect(given["reasoning_content"] as? String == own["reasoning_content"] as? String)
    }

    @Test("--chat-template with a syntax error stops before writing: one line with file, line and column")
    func badTemplate() throws {
        let c = Self.cases[0]
        try #require(Self.available(c), "\(c.model) is absent from ../shared")
        let dir = try TempDir("chat-gguf")
        defer { dir.cleanup() }
        let bad = dir.file("bad.jinja")
        try "{% for m in messages %}{{ m.content }}\n{% endif %}".write(toFile: bad, atomically: true, encoding: .utf8)
        let input = "\(SharedData.root)/models/\(c.model)/\(c.model)-bf16.gguf"
        let r = try ToolBinary("moe-quantize").run([input, dir.file("out.gguf"), "--type", "q8_0", "--chat-template", bad])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.last?.hasPrefix("moe-quantize: error: \(bad):2:") == true, "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.gguf")))
        let missing = try ToolBinary("moe-quantize").run([input, dir.file("out.gguf"), "--type", "q8_0", "--chat-template", dir.file("none.jinja")])
        #expect(missing.status == 1 && missing.stderr.contains("none.jinja"), "\(missing.stderr)")
    }
}
