/// The reply syntaxes this module parses, one file each under Formats/.
public enum ChatFormat: String, Sendable, CaseIterable {
    /// Reasoning split only; no tool calls.
    case generic
    /// `<tool_call>{"name": …, "arguments": …}</tool_call>`: Qwen3, Qwen2.5, Granite 4.0.
    case hermes
    /// `<tool_call><function=NAME><parameter=KEY>…`: Qwen3-Coder, Qwen3.5, Nemotron-3-Nano.
    case qwen3CoderXML
    /// `<tool_call>NAME<arg_key>…</arg_key><arg_value>…</arg_value>`: GLM-4.5, 4.6, 4.7.
    case glm45
    /// `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}`: DeepSeek-V3.1.
    case deepSeekV31
    /// `<｜DSML｜function_calls><｜DSML｜invoke name=…>`: DeepSeek-V3.2.
    case deepSeekV32
    /// gpt-oss harmony channels.
    case harmony
    /// `<|tool_calls_section_begin|>…functions.NAME:0<|tool_call_argument_begin|>{…}`: Kimi-K2 (and -Thinking).
    case kimiK2
    /// `<minimax:tool_call><invoke name=…><parameter name=…>`: MiniMax-M2.
    case miniMaxM2
    /// `[TOOL_CALLS][{…}]`: Mistral.
    case mistral
    /// Bare `{"name": …, "parameters": …}` and `<|python_tag|>`: Llama 3.1 / 3.2 / 3.3.
    case llama3
    /// `<|tool_call_start|>[f(a=1)]<|tool_call_end|>`: LFM2.
    case lfm2
}

/// What the registry reads from a template: the reply format, and whether the model writes `<think>` reasoning.
public struct DetectedChatFormat: Sendable, Equatable {
    public var format: ChatFormat
    public var thinks: Bool

    public init(format: ChatFormat, thinks: Bool) {
        self.format = format
        self.thinks = thinks
    }

    /// Chooses the format from the template's source text by marker strings, as llama.cpp's common/chat.cpp
    /// does. The order matters where templates share markers: the XML and GLM formats also contain
    /// `<tool_call>`, so they are tested before Hermes; DeepSeek and harmony markers are unique and go first.
    public init(templateSource template: String) {
        func has(_ marker: String) -> Bool { template.contains(marker) }
        let format: ChatFormat
        if has("<|channel|>") {
            format = .harmony
        } else if has("｜DSML｜") {
            format = .deepSeekV32
        } else if has("<｜tool▁calls▁begin｜>") || has("<｜tool▁call▁begin｜>") {
            format = .deepSeekV31
        } else if has("<|tool_calls_section_begin|>") {
            format = .kimiK2
        } else if has("<minimax:tool_call>") {
            format = .miniMaxM2
        } else if has("<arg_key>") {
            format = .glm45
        } else if has("<function=") && has("<parameter=") {
            format = .qwen3CoderXML
        } else if has("[TOOL_CALLS]") {
            format = .mistral
        } else if has("<|tool_call_start|>") || has("<|tool_list_start|>") {
            format = .lfm2
        } else if has("<tool_call>") {
            format = .hermes
        } else if has("<|start_header_id|>") && (has("<|python_tag|>") || has("\"parameters\"")) {
            format = .llama3
        } else {
            format = .generic
        }
        // Harmony has its own reasoning channel; everywhere else a `<think>` in the template means the model
        // writes (or is prompted into) `<think>…</think>`.
        self.init(format: format, thinks: format != .harmony && has("<think>"))
    }

    /// The parser for replies to a prompt rendered from this template. `startsInReasoning`: the prompt already
    /// opened `<think>` (see `ChatFormat.promptOpensReasoning`). `toolTypes`: declared parameter types, which
    /// the XML-parameter formats use to tell strings from JSON values.
    public func parser(startsInReasoning: Bool = false, toolTypes: ToolParameterTypes = ToolParameterTypes()) -> any ChatFormatParser {
        format.parser(thinks: thinks, startsInReasoning: startsInReasoning, toolTypes: toolTypes)
    }
}

extension ChatFormat {
    /// Whether a rendered prompt ends inside an open `<think>` (Qwen3.5, GLM-4.7, MiniMax-M2, Nemotron, and
    /// DeepSeek with thinking on put it into the generation prompt), so the reply begins in the reasoning and
    /// only its `</think>` appears. Trailing whitespace after `<think>` does not matter.
    public static func promptOpensReasoning(_ renderedPrompt: String) -> Bool {
        var end = renderedPrompt.endIndex
        while end > renderedPrompt.startIndex, renderedPrompt[renderedPrompt.index(before: end)].isWhitespace {
            end = renderedPrompt.index(before: end)
        }
        return renderedPrompt[..<end].hasSuffix("<think>")
    }

    /// The parser for this format. `thinks` enables the `<think>` split (the generic format always has it);
    /// `startsInReasoning` makes the reply begin inside the reasoning.
    public func parser(thinks: Bool, startsInReasoning: Bool = false,
                       toolTypes: ToolParameterTypes = ToolParameterTypes()) -> any ChatFormatParser {
        let syntax: TaggedSyntax
        switch self {
        case .harmony: return HarmonyParser()
        case .generic: syntax = GenericFormat.syntax
        case .hermes: syntax = HermesFormat.syntax(thinks: thinks)
        case .qwen3CoderXML: syntax = Qwen3CoderXMLFormat.syntax(thinks: thinks, types: toolTypes)
        case .glm45: syntax = GLM45Format.syntax(thinks: thinks, types: toolTypes)
        case .deepSeekV31: syntax = DeepSeekV31Format.syntax(thinks: thinks)
        case .deepSeekV32: syntax = DeepSeekV32Format.syntax(thinks: thinks, types: toolTypes)
        case .kimiK2: syntax = KimiK2Format.syntax(thinks: thinks)
        case .miniMaxM2: syntax = MiniMaxM2Format.syntax(thinks: thinks, types: toolTypes)
        case .mistral: syntax = MistralFormat.syntax
        case .llama3: syntax = Llama3Format.syntax
        case .lfm2: syntax = LFM2Format.syntax
        }
        return TaggedFormatParser(syntax: syntax, startsInReasoning: startsInReasoning)
    }
}
