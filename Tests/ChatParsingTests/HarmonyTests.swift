import Testing
@testable import ChatParsing

enum HarmonyCases {
    static let p = ChatFormat.harmony.parser(thinks: false)
    static let weather = call("get_weather", #"{"city":"Paris"}"#)

    static let all: [ReplyCase] = [
        ReplyCase("harmony: analysis then final", p,
                  "<|channel|>analysis<|message|>17 has no divisors.<|end|><|start|>assistant<|channel|>final<|message|>Yes.<|return|>",
                  reply("Yes.", reasoning: "17 has no divisors.")),
        ReplyCase("harmony: analysis then call (constrain form)", p,
                  "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>",
                  reply(reasoning: "Need the weather.", calls: [weather])),
        ReplyCase("harmony: recipient before channel (template form)", p,
                  " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\"}<|call|>",
                  reply(calls: [weather])),
        ReplyCase("harmony: preamble then call", p,
                  "<|channel|>commentary<|message|>Let me check.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather json<|message|>{\"city\": \"Paris\"}<|call|>",
                  reply("Let me check.", calls: [weather])),
        ReplyCase("harmony: call without the stop token in the text", p,
                  "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}",
                  reply(calls: [weather])),
        ReplyCase("harmony: final without a terminator", p, "<|channel|>final<|message|>Yes.", reply("Yes.")),
        ReplyCase("harmony: unterminated analysis", p, "<|channel|>analysis<|message|>Thinking", reply(reasoning: "Thinking")),
        ReplyCase("harmony: message followed by <|start|> without <|end|>", p,
                  "<|channel|>analysis<|message|>a<|start|>assistant<|channel|>final<|message|>b", reply("b", reasoning: "a")),
        MalformedCases.asContent("harmony: invalid JSON arguments", p,
                                 "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{city}<|call|>"),
        MalformedCases.asContent("harmony: truncated arguments", p,
                                 "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Pa"),
        MalformedCases.asContent("harmony: plain text", p, "Hello there, no channels here."),
        MalformedCases.asContent("harmony: multi-line plain text", p, "Line one\n<|message|>line two"),
        MalformedCases.asContent("harmony: truncated header", p, "<|channel|>fin"),
    ]
}

@Test(arguments: HarmonyCases.all)
func harmonyCase(_ c: ReplyCase) {
    check(c)
}
