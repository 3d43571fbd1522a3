import Testing
@testable import ChatParsing

struct ArgumentValueTests {
    @Test func undeclaredValuesKeepJSONElseString() {
        let cases: [(String, String)] = [
            ("3", "3"), ("-2.5e3", "-2.5e3"), ("true", "true"), ("null", "null"), ("[1, 2]", "[1,2]"),
            (#"{"a": {"b": 1}}"#, #"{"a":{"b":1}}"#), ("Paris", #""Paris""#), (#""quoted""#, #""\"quoted\"""#),
            ("0123", #""0123""#), ("True", #""True""#), ("", #""""#), ("line\nbreak", #""line\nbreak""#),
        ]
        for (text, json) in cases {
            #expect(ArgumentValue.convert(text, declaredType: nil).compactText == json, "\(text)")
        }
    }

    @Test func declaredTypesDecide() {
        #expect(ArgumentValue.convert("75001", declaredType: "string") == .string("75001"))
        #expect(ArgumentValue.convert("true", declaredType: "string") == .string("true"))
        #expect(ArgumentValue.convert("75001", declaredType: "integer") == .number("75001"))
        #expect(ArgumentValue.convert("abc", declaredType: "integer") == .string("abc"))
        #expect(ArgumentValue.convert("True", declaredType: "boolean") == .bool(true))
        #expect(ArgumentValue.convert(#""x""#, declaredType: "object") == .string("x"))
    }

    @Test func typesFromToolsJSON() {
        let tools = #"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": ["integer", "null"]}, "extra": {}}}}}, "junk"]"#
        let types = ToolParameterTypes(toolsJSON: tools)
        #expect(types.types == ["get_weather": ["city": "string", "days": "integer"]])
        #expect(ToolParameterTypes(toolsJSON: "not json").types.isEmpty)
    }

    /// The same XML call reads "75001" as a number without a schema and as a string with one.
    @Test func schemaReachesTheXMLParsers() {
        let types = ToolParameterTypes(["lookup": ["zip": "string"]])
        let coder = "<tool_call>\n<function=lookup>\n<parameter=zip>\n75001\n</parameter>\n</function>\n</tool_call>"
        #expect(ChatFormat.qwen3CoderXML.parser(thinks: false).parse(coder).toolCalls == [call("lookup", #"{"zip":75001}"#)])
        #expect(ChatFormat.qwen3CoderXML.parser(thinks: false, toolTypes: types).parse(coder).toolCalls == [call("lookup", #"{"zip":"75001"}"#)])
        let glm = "<tool_call>lookup<arg_key>zip</arg_key><arg_value>75001</arg_value></tool_call>"
        #expect(ChatFormat.glm45.parser(thinks: true, toolTypes: types).parse(glm).toolCalls == [call("lookup", #"{"zip":"75001"}"#)])
        let minimax = "<minimax:tool_call><invoke name=\"lookup\"><parameter name=\"zip\">75001</parameter></invoke></minimax:tool_call>"
        #expect(ChatFormat.miniMaxM2.parser(thinks: true, toolTypes: types).parse(minimax).toolCalls == [call("lookup", #"{"zip":"75001"}"#)])
        let detected = DetectedChatFormat(format: .miniMaxM2, thinks: true)
        #expect(detected.parser(toolTypes: types).parse(minimax).toolCalls == [call("lookup", #"{"zip":"75001"}"#)])
    }
}

struct JSONValueTests {
    @Test func keepsKeyOrderAndSerialisesCompactly() {
        let text = #" { "b" : 1 , "a" : [ true , null , "x" ] , "c" : { } } "#
        #expect(JSONValue.parse(text)?.compactText == #"{"b":1,"a":[true,null,"x"],"c":{}}"#)
    }

    @Test func stringEscapes() {
        let parsed = JSONValue.parse(#""q\" s\\ n\n t\t u\u00e9 pair\ud83d\ude00 slash\/""#)
        #expect(parsed == .string("q\" s\\ n\n t\t ué pair😀 slash/"))
        #expect(JSONValue.string("a\"b\\c\n\u{01}é").compactText == #""a\"b\\c\n\u0001é""#)
        #expect(JSONValue.parse(#""\ud800""#) == .string("\u{FFFD}"))
    }

    @Test func rejectsWhatIsNotJSON() {
        for bad in ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "tru", "\"a", "\"\u{01}\"", "{a:1}", "1 2",
                    "\"\\x\"", "\"\\u12\"", "\"\\u+123\"", "[" + String(repeating: "[", count: 2000)] {
            #expect(JSONValue.parse(bad) == nil, "\(bad.prefix(20))")
        }
    }

    @Test func parsePrefixReturnsTheRest() {
        let result = JSONValue.parsePrefix(#"{"a":1} ; tail"#)
        #expect(result?.value == .object([(key: "a", value: .number("1"))]))
        #expect(result?.rest == " ; tail")
    }

    @Test func deepNestingDoesNotCrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONValue.parse(deep) == nil)
        let hermes = ChatFormat.hermes.parser(thinks: false)
        let text = "<tool_call>{\"name\":\"f\",\"arguments\":" + deep + "}</tool_call>"
        #expect(hermes.parse(text) == reply(text))
    }
}
