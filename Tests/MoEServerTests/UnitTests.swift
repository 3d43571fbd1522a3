import ChatParsing
import MoEModel
@testable import MoEServer
import Testing

@Suite struct StopStringFilterTests {
    func run(_ pieces: [String], _ stops: [String]) -> (text: String, sent: [String], stopped: Bool) {
        var f = StopStringFilter(stops)
        var sent = pieces.map { f.feed($0) }
        sent.append(f.finish())
        return (sent.joined(), sent, f.stopped)
    }

    @Test("text before the first stop string is sent; the stop string and the rest are not")
    func cuts() {
        let r = run(["Hello wo", "rld. Bye", " now"], ["world"])
        #expect(r.text == "Hello ")
        #expect(r.stopped)
    }

    @Test("a possible start of a stop string is held back until decided, then sent")
    func holdsBack() {
        let r = run(["abc<", "|e", "x", "yz"], ["<|end|>"])
        #expect(r.sent == ["abc", "", "<|ex", "yz", ""])
        #expect(r.text == "abc<|exyz")
        #expect(!r.stopped)
    }

    @Test("the earliest of several stop strings wins, across piece boundaries")
    func earliest() {
        #expect(run(["one two thr", "ee four"], ["four", "three"]).text == "one two ")
        #expect(run(["x"], []).text == "x")
    }
}

@Suite struct RequestParsingTests {
    func fields(_ json: String) throws -> RequestFields { try RequestFields(body: Array(json.utf8)) }

    @Test("chat messages: text parts joined, assistant tool calls and tool results kept, developer read as system")
    func messages() throws {
        let p = try ChatCompletionParameters(fields(#"""
        {"messages": [{"role": "developer", "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
                      {"role": "user", "content": "Weather?"},
                      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{\"city\": \"Oslo\"}"}}]},
                      {"role": "tool", "tool_call_id": "c1", "content": "sunny"}],
         "tools": [{"type": "function", "function": {"name": "get", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
         "max_completion_tokens": 10, "stop": "END", "top_k": 5, "seed": 3}
        """#), defaults: SamplingOptions(), contextLength: 100)
        #expect(p.messages.map(\.role) == ["system", "user", "assistant", "tool"])
        #expect(p.messages[0].content == "Be brief.")
        #expect(p.messages[2].toolCalls == [ToolCall(id: "c1", name: "get", arguments: #"{"city": "Oslo"}"#)])
        #expect(p.messages[3].toolCallId == "c1")
        #expect(p.tools != nil)
        #expect(p.toolsJSON?.hasPrefix(#"[{"type":"function""#) == true)
        #expect(p.generation.maxTokens == 10)
        #expect(p.generation.stop == ["END"])
        #expect(p.generation.sampling.topK == 5)
        #expect(p.generation.sampling.seed == 3)
    }

    @Test("tool_choice none drops the tools; sampling defaults fill what a request leaves out")
    func toolChoiceNoneAndDefaults() throws {
        let p = try ChatCompletionParameters(fields(#"{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"}"#),
                                             defaults: SamplingOptions(temperature: 0.5, topP: 0.9), contextLength: 100)
        #expect(p.tools == nil)
        #expect(p.generation.sampling.temperature == 0.5)
        #expect(p.generation.sampling.topP == 0.9)
        #expect(p.generation.maxTokens == nil)
    }

    @Test("wrong types and ranges name the field")
    func errors() throws {
        let cases = [#"{"messages": [{"role": "user", "content": "hi"}], "top_p": 0}"#: "top_p",
                     #"{"messages": [{"role": "user", "content": "hi"}], "stop": [1]}"#: "stop",
                     #"{"messages": [{"role": "user", "content": "hi"}], "n": 2}"#: "n",
                     #"{"messages": [{"role": "user", "content": 5}]}"#: "messages[0]",
                     #"{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}"#: "stream"]
        for (json, param) in cases {
            #expect(throws: APIError.self) { try ChatCompletionParameters(fields(json), defaults: SamplingOptions(), contextLength: 100) }
            do { _ = try ChatCompletionParameters(fields(json), defaults: SamplingOptions(), contextLength: 100) } catch let e as APIError {
                #expect(e.param == param, "\(json)")
                #expect(e.status == .badRequest)
            }
        }
    }

    @Test("the bearer check accepts exactly the key")
    func bearer() {
        #expect(OpenAIMiddleware.authorized("Bearer k3y", key: "k3y"))
        #expect(!OpenAIMiddleware.authorized("Bearer k3", key: "k3y"))
        #expect(!OpenAIMiddleware.authorized("Bearer k3yy", key: "k3y"))
        #expect(!OpenAIMiddleware.authorized(nil, key: "k3y"))
    }
}
