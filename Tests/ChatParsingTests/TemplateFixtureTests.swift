import Foundation
import Testing
import TestSupport
@testable import ChatParsing

/// The 17 templates in ../shared/chat-templates: the registry must pick the intended format, and the assistant
/// turns the templates render (the model-side syntax exactly) must parse back to the messages they came from.
struct TemplateFixtureTests {
    /// Template → (format, thinks). Qwen3.5 and Nemotron write Qwen3-Coder's XML; Granite 4.0 and Qwen2.5 Hermes.
    static let expected: [String: DetectedChatFormat] = [
        "Qwen-Qwen3-0.6B": .init(format: .hermes, thinks: true),
        "Qwen-Qwen2.5-7B-Instruct": .init(format: .hermes, thinks: false),
        "ibm-granite-granite-4.0": .init(format: .hermes, thinks: false),
        "Qwen3-Coder": .init(format: .qwen3CoderXML, thinks: false),
        "Qwen3.5-4B": .init(format: .qwen3CoderXML, thinks: true),
        "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": .init(format: .qwen3CoderXML, thinks: true),
        "GLM-4.6": .init(format: .glm45, thinks: true),
        "GLM-4.7-Flash": .init(format: .glm45, thinks: true),
        "deepseek-ai-DeepSeek-V3.1": .init(format: .deepSeekV31, thinks: true),
        "deepseek-ai-DeepSeek-V3.2": .init(format: .deepSeekV32, thinks: true),
        "openai-gpt-oss-120b": .init(format: .harmony, thinks: false),
        "moonshotai-Kimi-K2": .init(format: .kimiK2, thinks: false),
        "Kimi-K2-Thinking": .init(format: .kimiK2, thinks: true),
        "MiniMax-M2": .init(format: .miniMaxM2, thinks: true),
        "mistralai-Mistral-Nemo-Instruct-2407": .init(format: .mistral, thinks: false),
        "meta-llama-Llama-3.1-8B-Instruct": .init(format: .llama3, thinks: false),
        "LFM2-8B-A1B": .init(format: .lfm2, thinks: false),
    ]

    /// Where each template's assistant turn starts and ends in a render.
    static let assistantTurn: [String: (start: String, end: String)] = [
        "Qwen-Qwen3-0.6B": ("<|im_start|>assistant\n", "<|im_end|>"),
        "Qwen-Qwen2.5-7B-Instruct": ("<|im_start|>assistant\n", "<|im_end|>"),
        "Qwen3-Coder": ("<|im_start|>assistant\n", "<|im_end|>"),
        "Qwen3.5-4B": ("<|im_start|>assistant\n", "<|im_end|>"),
        "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": ("<|im_start|>assistant\n", "<|im_end|>"),
        "ibm-granite-granite-4.0": ("<|start_of_role|>assistant<|end_of_role|>", "<|end_of_text|>"),
        "GLM-4.6": ("<|assistant|>", "<|"),
        "GLM-4.7-Flash": ("<|assistant|>", "<|"),
        "deepseek-ai-DeepSeek-V3.1": ("<｜Assistant｜>", "<｜end▁of▁sentence｜>"),
        "deepseek-ai-DeepSeek-V3.2": ("<｜Assistant｜>", "<｜end▁of▁sentence｜>"),
        // The generation prompt is `<|start|>assistant`; the turn runs to the next message's `<|start|>`.
        "openai-gpt-oss-120b": ("<|start|>assistant", "<|start|>"),
        "moonshotai-Kimi-K2": ("<|im_assistant|>assistant<|im_middle|>", "<|im_end|>"),
        "Kimi-K2-Thinking": ("<|im_assistant|>assistant<|im_middle|>", "<|im_end|>"),
        "MiniMax-M2": ("]~b]ai\n", "[e~["),
        "mistralai-Mistral-Nemo-Instruct-2407": ("[/INST]", "<EOS>"),
        "meta-llama-Llama-3.1-8B-Instruct": ("<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"),
        "LFM2-8B-A1B": ("<|im_start|>assistant\n", "<|im_end|>"),
    ]

    struct Fixture {
        let template: String
        let caseName: String
        let rendered: String?
    }

    static func fixtures() throws -> [Fixture]? {
        guard let root = SharedData.root else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/chat-templates/fixtures.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let list = object?["fixtures"] as? [[String: Any]] ?? []
        return list.map { Fixture(template: $0["template"] as? String ?? "", caseName: $0["case"] as? String ?? "", rendered: $0["rendered"] as? String) }
    }

    /// The first assistant turn after `userText` in a render.
    static func assistantText(_ rendered: String, template: String, after userText: String) -> String? {
        guard let (start, end) = assistantTurn[template], let user = rendered.range(of: userText),
              let open = rendered.range(of: start, range: user.upperBound..<rendered.endIndex),
              let close = rendered.range(of: end, range: open.upperBound..<rendered.endIndex) else { return nil }
        return String(rendered[open.upperBound..<close.lowerBound])
    }

    /// A past turn that the template wrote with only `</think>` (DeepSeek-V3.2, GLM-4.7) is what a reply to a
    /// prompt that opened `<think>` looks like; the others start outside the reasoning.
    static func parser(_ template: String, for text: String) -> any ChatFormatParser {
        expected[template]!.parser(startsInReasoning: text.hasPrefix("</think>"))
    }

    @Test func registryPicksTheIntendedFormatForEveryTemplate() throws {
        guard let root = SharedData.root else { print("skipped: ../shared is absent"); return }
        let dir = root + "/chat-templates"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jinja") }
        #expect(names.count == 17)
        for name in names {
            let template = String(name.dropLast(".jinja".count))
            let source = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            #expect(DetectedChatFormat(templateSource: source) == Self.expected[template], "\(template)")
        }
        #expect(DetectedChatFormat(templateSource: "{{ messages[0].content }}") == .init(format: .generic, thinks: false))
    }

    /// The "tools" conversation's assistant turn: one call get_weather(city: "Paris", unit: "c") and no content.
    /// (Mistral's and Kimi-K2-Thinking's renders raised; LFM2's template renders no calls.)
    @Test func toolCallTurnsParseBack() throws {
        guard let fixtures = try Self.fixtures() else { print("skipped: ../shared is absent"); return }
        var checked = 0
        for f in fixtures where f.caseName == "tools" && f.template != "LFM2-8B-A1B" {
            guard let rendered = f.rendered else { continue }
            guard let text = Self.assistantText(rendered, template: f.template, after: "Weather in Paris?") else {
                Issue.record("\(f.template): no assistant turn found")
                continue
            }
            let parser = Self.parser(f.template, for: text)
            let id = f.template == "moonshotai-Kimi-K2" ? "functions.get_weather:0" : nil
            let want = reply(calls: [call("get_weather", #"{"city":"Paris","unit":"c"}"#, id: id)])
            #expect(parser.parse(text) == want, "\(f.template): \(text.debugDescription)")
            if let mismatch = firstStreamingMismatch(parser, text) {
                Issue.record("\(f.template): streamed \(mismatch.pieces) gave \(mismatch.got)")
            }
            checked += 1
        }
        #expect(checked == 14)
    }

    /// The "reasoning" conversation's first assistant turn ("Yes.", its reasoning dropped by every template as a
    /// past turn) parses to content "Yes." in all 17 formats, with the empty `<think></think>` some write.
    @Test func contentTurnsParseBack() throws {
        guard let fixtures = try Self.fixtures() else { print("skipped: ../shared is absent"); return }
        var checked = 0
        for f in fixtures where f.caseName == "reasoning" {
            guard let rendered = f.rendered,
                  let text = Self.assistantText(rendered, template: f.template, after: "Is 17 prime?") else {
                Issue.record("\(f.template): no assistant turn found")
                continue
            }
            let parser = Self.parser(f.template, for: text)
            #expect(parser.parse(text) == reply("Yes."), "\(f.template): \(text.debugDescription)")
            #expect(firstStreamingMismatch(parser, text) == nil, "\(f.template)")
            checked += 1
        }
        #expect(checked == 17)
    }

    /// `promptOpensReasoning` on the generation prompts the templates render: open `<think>` at the end for
    /// Qwen3.5, GLM-4.7, MiniMax-M2 and Nemotron; a closed `<think></think>` (DeepSeek without thinking) or none
    /// for the rest.
    @Test func generationPromptsThatOpenReasoning() throws {
        guard let fixtures = try Self.fixtures() else { print("skipped: ../shared is absent"); return }
        let opening: Set = ["Qwen3.5-4B", "GLM-4.7-Flash", "MiniMax-M2", "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]
        for f in fixtures where f.caseName == "one-user" {
            guard let rendered = f.rendered else { continue }
            #expect(ChatFormat.promptOpensReasoning(rendered) == opening.contains(f.template), "\(f.template)")
        }
    }
}
