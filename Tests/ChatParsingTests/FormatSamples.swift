@testable import ChatParsing

/// Every format's writer, as its template renders past assistant turns (see each template in
/// ../shared/chat-templates and the matching file under Sources/ChatParsing/Formats).
enum FormatSamples {
    static let hermes = FormatSample(label: "Hermes (Qwen3)", format: .hermes, thinks: true) { calls in
        calls.map { "<tool_call>\n{\"name\": \"\($0.name)\", \"arguments\": \($0.tojson)}\n</tool_call>" }.joined(separator: "\n")
    }

    static let qwen3Coder = FormatSample(label: "Qwen3-Coder XML", format: .qwen3CoderXML, thinks: true) { calls in
        calls.map { c in
            "<tool_call>\n<function=\(c.name)>\n"
                + c.arguments.map { "<parameter=\($0.0)>\n\(SampleCall.raw($0.1))\n</parameter>\n" }.joined()
                + "</function>\n</tool_call>"
        }.joined(separator: "\n")
    }

    static let glm46 = FormatSample(label: "GLM-4.6", format: .glm45, thinks: true) { calls in
        calls.map { c in
            "<tool_call>\(c.name)\n"
                + c.arguments.map { "<arg_key>\($0.0)</arg_key>\n<arg_value>\(SampleCall.raw($0.1))</arg_value>\n" }.joined()
                + "</tool_call>"
        }.joined(separator: "\n")
    }

    static let glm47 = FormatSample(label: "GLM-4.7", format: .glm45, thinks: true, write: { calls in
        calls.map { c in
            "<tool_call>\(c.name)" + c.arguments.map { "<arg_key>\($0.0)</arg_key><arg_value>\(SampleCall.raw($0.1))</arg_value>" }.joined()
                + "</tool_call>"
        }.joined()
    }, contentSeparator: "")

    static let deepSeekV31 = FormatSample(label: "DeepSeek-V3.1", format: .deepSeekV31, thinks: true, write: { calls in
        "<｜tool▁calls▁begin｜>"
            + calls.map { "<｜tool▁call▁begin｜>\($0.name)<｜tool▁sep｜>\($0.tojson)<｜tool▁call▁end｜>" }.joined()
            + "<｜tool▁calls▁end｜>"
    }, contentSeparator: "")

    static let deepSeekV32 = FormatSample(label: "DeepSeek-V3.2", format: .deepSeekV32, thinks: true) { calls in
        "\n\n<｜DSML｜function_calls>\n"
            + calls.map { c in
                "<｜DSML｜invoke name=\"\(c.name)\">\n"
                    + c.arguments.map { k, v in
                        "<｜DSML｜parameter name=\"\(k)\" string=\"\(v.stringValue != nil)\">\(SampleCall.raw(v))</｜DSML｜parameter>\n"
                    }.joined()
                    + "</｜DSML｜invoke>\n"
            }.joined()
            + "</｜DSML｜function_calls>"
    }

    static let kimiK2 = FormatSample(label: "Kimi-K2", format: .kimiK2, thinks: false, write: { calls in
        "<|tool_calls_section_begin|>"
            + calls.enumerated().map { "<|tool_call_begin|>functions.\($1.name):\($0)<|tool_call_argument_begin|>\($1.tojson)<|tool_call_end|>" }.joined()
            + "<|tool_calls_section_end|>"
    }, ids: { calls in calls.enumerated().map { "functions.\($1.name):\($0)" } }, contentSeparator: "")

    static let kimiK2Thinking = FormatSample(label: "Kimi-K2-Thinking", format: .kimiK2, thinks: true,
                                             write: kimiK2.write, ids: kimiK2.ids, contentSeparator: "")

    static let miniMaxM2 = FormatSample(label: "MiniMax-M2", format: .miniMaxM2, thinks: true) { calls in
        "\n<minimax:tool_call>\n"
            + calls.map { c in
                "<invoke name=\"\(c.name)\">" + c.arguments.map { "<parameter name=\"\($0.0)\">\(SampleCall.raw($0.1))</parameter>\n" }.joined()
                    + "</invoke>\n"
            }.joined()
            + "</minimax:tool_call>"
    }

    static let mistral = FormatSample(label: "Mistral", format: .mistral, thinks: false, write: { calls in
        "[TOOL_CALLS]["
            + calls.enumerated().map { "{\"name\": \"\($1.name)\", \"arguments\": \($1.tojson), \"id\": \"call\($0)abcd\"}" }.joined(separator: ", ")
            + "]"
    }, ids: { calls in calls.indices.map { "call\($0)abcd" } }, contentSeparator: "")

    static let llama3 = FormatSample(label: "Llama 3.1", format: .llama3, thinks: false, write: { calls in
        calls.map { "{\"name\": \"\($0.name)\", \"parameters\": \($0.tojson)}" }.joined(separator: "; ")
    }, contentBeforeCalls: false)

    static let lfm2 = FormatSample(label: "LFM2", format: .lfm2, thinks: false, write: { calls in
        "<|tool_call_start|>["
            + calls.map { c in c.name + "(" + c.arguments.map { k, v in "\(k)=\(v.stringValue.map { "\"\($0)\"" } ?? SampleCall.tojson(v))" }.joined(separator: ", ") + ")" }
                .joined(separator: ", ")
            + "]<|tool_call_end|>"
    }, contentSeparator: "")

    /// Content before a call is a separate (preamble) message in harmony: see HarmonyTests.
    static let harmony = FormatSample(label: "gpt-oss harmony", format: .harmony, thinks: false, write: { calls in
        calls.map { "<|channel|>commentary to=functions.\($0.name) <|constrain|>json<|message|>\($0.tojson)<|call|>" }
            .joined(separator: "<|start|>assistant")
    }, contentBeforeCalls: false)

    static let all = [hermes, qwen3Coder, glm46, glm47, deepSeekV31, deepSeekV32, kimiK2, kimiK2Thinking, miniMaxM2, mistral, llama3, lfm2, harmony]
}
