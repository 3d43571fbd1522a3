import Testing
@testable import ChatParsing

/// Per format: malformed blocks (→ the text as content, never a crash, never dropped) and the variants each
/// format's parser also reads.
enum MalformedCases {
    static func asContent(_ label: String, _ parser: any ChatFormatParser, _ text: String) -> ReplyCase {
        ReplyCase(label, parser, text, reply(text.trimmingWhitespace))
    }

    static let hermes = ChatFormat.hermes.parser(thinks: true)
    static let qwen25 = ChatFormat.hermes.parser(thinks: false)
    static let coder = ChatFormat.qwen3CoderXML.parser(thinks: false)
    static let glm = ChatFormat.glm45.parser(thinks: true)
    static let v31 = ChatFormat.deepSeekV31.parser(thinks: true)
    static let v32 = ChatFormat.deepSeekV32.parser(thinks: true)
    static let kimi = ChatFormat.kimiK2.parser(thinks: false)
    static let minimax = ChatFormat.miniMaxM2.parser(thinks: true)
    static let mistral = ChatFormat.mistral.parser(thinks: false)
    static let llama = ChatFormat.llama3.parser(thinks: false)
    static let lfm2 = ChatFormat.lfm2.parser(thinks: false)
    static let generic = ChatFormat.generic.parser(thinks: true)

    static let all: [ReplyCase] = [
        // Hermes
        asContent("Hermes: invalid JSON arguments", hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {city: Paris}}\n</tool_call>"),
        asContent("Hermes: missing name", hermes, "<tool_call>\n{\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"),
        asContent("Hermes: arguments not an object", hermes, "<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>"),
        asContent("Hermes: unterminated after content", hermes, "Sure.\n<tool_call>\n{\"name\": \"get_weather\""),
        asContent("Hermes: <think> not at the start is text", hermes, "Use <think> tags.</think> Done."),
        ReplyCase("Hermes: <think> repeated after a prompt that opened it", ChatFormat.hermes.parser(thinks: true, startsInReasoning: true),
                  "\n<think>\nhmm\n</think>\n\nHi", reply("Hi", reasoning: "hmm")),
        ReplyCase("Hermes: reply that only reasons, prompt opened it", ChatFormat.hermes.parser(thinks: true, startsInReasoning: true),
                  "<thin", reply(reasoning: "<thin")),
        asContent("Hermes: Qwen2.5 does not think", qwen25, "<think>x</think>y"),
        ReplyCase("Hermes: valid then malformed block", hermes,
                  "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>oops</tool_call>",
                  reply("<tool_call>oops</tool_call>", calls: [call("a", "{}")])),
        ReplyCase("Hermes: double-encoded arguments", hermes, #"<tool_call>{"name": "f", "arguments": "{\"x\": 1}"}</tool_call>"#,
                  reply(calls: [call("f", #"{"x":1}"#)])),
        ReplyCase("Hermes: no arguments", hermes, #"<tool_call>{"name": "now"}</tool_call>"#, reply(calls: [call("now", "{}")])),
        ReplyCase("Hermes: content between and after calls", hermes,
                  "A\n<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\nB\n<tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call>\nC",
                  reply("A\n\nB\n\nC", calls: [call("a", "{}"), call("b", "{}")])),
        // Qwen3-Coder XML
        asContent("Qwen3-Coder: missing </parameter>", coder, "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</function>\n</tool_call>"),
        asContent("Qwen3-Coder: missing </function>", coder, "<tool_call>\n<function=get_weather>\n</tool_call>"),
        asContent("Qwen3-Coder: empty name", coder, "<tool_call>\n<function=>\n</function>\n</tool_call>"),
        asContent("Qwen3-Coder: blank name", coder, "<tool_call>\n<function= >\n</function>\n</tool_call>"),
        asContent("Qwen3-Coder: not a function", coder, "<tool_call>\nhello\n</tool_call>"),
        asContent("Qwen3-Coder: truncated in a value", coder, "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar"),
        ReplyCase("Qwen3-Coder: multi-line string value, JSON values", coder,
                  "<tool_call>\n<function=write>\n<parameter=text>\nline 1\nline 2\n</parameter>\n<parameter=flags>\n[\"a\", true]\n</parameter>\n<parameter=n>\n-1.5e3\n</parameter>\n</function>\n</tool_call>",
                  reply(calls: [call("write", #"{"text":"line 1\nline 2","flags":["a",true],"n":-1.5e3}"#)])),
        // GLM
        asContent("GLM: name with a space", glm, "<tool_call>get weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>"),
        asContent("GLM: key without value", glm, "<tool_call>f<arg_key>city</arg_key></tool_call>"),
        asContent("GLM: empty block", glm, "<tool_call></tool_call>"),
        ReplyCase("GLM: call without arguments", glm, "<tool_call>get_time</tool_call>", reply(calls: [call("get_time", "{}")])),
        // DeepSeek-V3.1
        asContent("DeepSeek-V3.1: invalid JSON arguments", v31,
                  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": Paris}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
        asContent("DeepSeek-V3.1: missing separator", v31,
                  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
        asContent("DeepSeek-V3.1: unterminated section", v31,
                  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜>"),
        ReplyCase("DeepSeek-V3: fenced JSON body", v31,
                  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
                  reply(calls: [call("get_weather", #"{"city":"Paris"}"#)])),
        // DeepSeek-V3.2 DSML
        asContent("DeepSeek-V3.2: unclosed name", v32,
                  "<｜DSML｜function_calls>\n<｜DSML｜invoke name=get_weather>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>"),
        asContent("DeepSeek-V3.2: missing </invoke>", v32,
                  "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n</｜DSML｜function_calls>"),
        ReplyCase("DeepSeek-V3.2: string attribute decides", v32,
                  "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"zip\" string=\"true\">75001</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" string=\"false\">three</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>",
                  reply(calls: [call("f", #"{"zip":"75001","days":"three"}"#)])),
        // Kimi-K2
        asContent("Kimi-K2: invalid JSON arguments", kimi,
                  "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{x}<|tool_call_end|><|tool_calls_section_end|>"),
        asContent("Kimi-K2: missing argument marker", kimi,
                  "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0{}<|tool_call_end|><|tool_calls_section_end|>"),
        asContent("Kimi-K2: truncated section", kimi, "Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_arg"),
        // MiniMax-M2
        asContent("MiniMax-M2: missing </invoke>", minimax,
                  "<minimax:tool_call>\n<invoke name=\"f\"><parameter name=\"a\">1</parameter>\n</minimax:tool_call>"),
        asContent("MiniMax-M2: blank name", minimax, "<minimax:tool_call><invoke name=\" \"></invoke></minimax:tool_call>"),
        asContent("MiniMax-M2: not an invoke", minimax, "<minimax:tool_call>\nhello\n</minimax:tool_call>"),
        // Mistral
        asContent("Mistral: truncated JSON", mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}"),
        asContent("Mistral: marker in prose", mistral, "The [TOOL_CALLS] token starts calls."),
        ReplyCase("Mistral: name[ARGS] form", mistral, "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}",
                  reply(calls: [call("get_weather", #"{"city":"Paris"}"#)])),
        // Llama 3.1
        asContent("Llama 3.1: JSON that is not a call", llama, "{\"answer\": 42}"),
        asContent("Llama 3.1: name without parameters", llama, "{\"name\": \"Bob\"}"),
        asContent("Llama 3.1: truncated call", llama, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Pa"),
        asContent("Llama 3.1: JSON later in content is text", llama, "Here: {\"name\": \"f\", \"parameters\": {}}"),
        ReplyCase("Llama 3.1: built-in tool", llama, "<|python_tag|>brave_search.call(query=\"Paris weather\")",
                  reply(calls: [call("brave_search", #"{"query":"Paris weather"}"#)])),
        ReplyCase("Llama 3.1: content then built-in tool", llama, "Searching.<|python_tag|>wolfram_alpha.call(query=\"2+2\")",
                  reply("Searching.", calls: [call("wolfram_alpha", #"{"query":"2+2"}"#)])),
        ReplyCase("Llama 3.1: code after python_tag", llama, "<|python_tag|>print(1+1)",
                  reply(calls: [call("python", #"{"code":"print(1+1)"}"#)])),
        ReplyCase("Llama 3.1: arguments key, type function", llama, #"{"type": "function", "name": "f", "arguments": {"a": 1}}"#,
                  reply(calls: [call("f", #"{"a":1}"#)])),
        // LFM2
        asContent("LFM2: bare identifier value", lfm2, "<|tool_call_start|>[get_weather(city=Paris)]<|tool_call_end|>"),
        asContent("LFM2: unclosed call", lfm2, "<|tool_call_start|>[get_weather(city=\"Paris\"]<|tool_call_end|>"),
        ReplyCase("LFM2: JSON list", lfm2, "<|tool_call_start|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]<|tool_call_end|>",
                  reply(calls: [call("get_weather", #"{"city":"Paris"}"#)])),
        ReplyCase("LFM2: Python literals", lfm2, #"<|tool_call_start|>[f(a=True, b=None, c=[1, 2.5], d={'k': 'v'}, e='it\'s', g=(1,))]<|tool_call_end|>Done."#,
                  reply("Done.", calls: [call("f", #"{"a":true,"b":null,"c":[1,2.5],"d":{"k":"v"},"e":"it's","g":[1]}"#)])),
        // Generic
        ReplyCase("Generic: reasoning split", generic, "<think>hmm</think>Answer <tool_call>{}</tool_call>",
                  reply("Answer <tool_call>{}</tool_call>", reasoning: "hmm")),
        asContent("Generic: no reasoning", generic, "  Just text.  "),
        ReplyCase("Empty reply", hermes, "", reply()),
        ReplyCase("Whitespace reply", hermes, " \n\t ", reply()),
    ]
}

@Test(arguments: MalformedCases.all)
func malformedOrVariantCase(_ c: ReplyCase) {
    check(c)
}
