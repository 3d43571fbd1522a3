import ChatParsing
import ChatTemplate
import Foundation
import MoEChat
import MoEKernels
import MoEModel
import Testing
import TestSupport

/// A conversation through a real template on the trained tiny model: each turn reuses the KV cache of the
/// conversation so far and replies exactly as a cold session given the same messages does.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct ChatSessionTests {
    static func qwen3Prompt(_ model: Model) throws -> ChatPrompt {
        let path = SharedData.root! + "/chat-templates/Qwen-Qwen3-0.6B.jinja"
        let source = try String(contentsOfFile: path, encoding: .utf8)
        return try ChatPrompt(source: source, origin: path, eosToken: "<|endoftext|>")
    }

    static func session(_ model: Model, precision: ActivationPrecision = .q8) throws -> ChatSession {
        ChatSession(model: model, prompt: try qwen3Prompt(model), contextLength: 512, threads: 2, precision: precision)
    }

    static let options = GenerationOptions(maxTokens: 12, threads: 2, precision: .q8)

    @Test("second turn reuses the history's KV rows and equals a cold session's reply")
    func secondTurnReusesHistory() throws {
        let model = try Model(path: SharedData.tiny! + "/tiny-qwen3moe-bf16.gguf")
        let warm = try Self.session(model)
        warm.append(.system("You are a terse assistant."))
        let first = try warm.send(.user("In the beginning God created"), options: Self.options)
        #expect(first.stats.reusedPromptTokens == 0)
        #expect(first.prompt.hasSuffix("<|im_start|>assistant\n"))
        let second = try warm.send(.user("And then?"), options: Self.options)
        // Everything up to the first reply is shared (Qwen3's template re-renders a past reply from its
        // parsed content, so the reply's own tokens may not all match).
        let firstPromptTokens = model.tokenizer.encode(first.prompt, parseSpecial: true).count
        #expect(second.stats.reusedPromptTokens >= firstPromptTokens)
        #expect(second.stats.reusedPromptTokens < second.stats.promptTokens)

        let cold = try Self.session(model)
        for m in warm.messages.dropLast(2) { cold.append(m) }
        let coldSecond = try cold.send(.user("And then?"), options: Self.options)
        #expect(coldSecond.stats.reusedPromptTokens == 0)
        #expect(coldSecond.prompt == second.prompt)
        #expect(coldSecond.rawText == second.rawText)
        #expect(warm.messages.count == 5)
        #expect(warm.messages.last?.role == "assistant")
    }

    @Test("a prompt longer than the context is an error and leaves the conversation as it was")
    func promptTooLong() throws {
        let model = try Model(path: SharedData.tiny! + "/tiny-qwen3moe-bf16.gguf")
        let session = ChatSession(model: model, prompt: try Self.qwen3Prompt(model), contextLength: 32, threads: 2, precision: .q8)
        #expect(throws: ChatError.self) {
            try session.send(.user(String(repeating: "word ", count: 100)), options: Self.options)
        }
        #expect(session.messages.isEmpty)
    }

    @Test("ChatML when a model has no template: the prompt ends at the assistant's turn")
    func chatMLDefault() throws {
        let prompt = try ChatPrompt(source: ChatPrompt.chatML, origin: "default")
        let text = try prompt.render(messages: [.system("S"), .user("Hi")])
        #expect(text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test("a tool call reaches the template with its arguments as a mapping")
    func toolCallMessage() throws {
        let path = SharedData.root! + "/chat-templates/Qwen-Qwen3-0.6B.jinja"
        let prompt = try ChatPrompt(source: try String(contentsOfFile: path, encoding: .utf8), origin: path)
        let call = ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city":"Paris","unit":"c"}"#)
        let text = try prompt.render(messages: [.user("Weather in Paris?"), ChatMessage(role: "assistant", content: "", toolCalls: [call])],
                                     addGenerationPrompt: false)
        #expect(text.contains(#"<tool_call>\#n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\#n</tool_call>"#))
        #expect(prompt.format.format == .hermes)
    }
}
