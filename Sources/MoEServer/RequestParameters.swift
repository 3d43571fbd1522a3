import ChatParsing
import ChatTemplate
import MoEChat
import MoEModel

/// A request body's top-level object with typed accessors: a field of the wrong type is a 400 naming the field
/// (OpenAI's `param`), a field absent or null is nil.
struct RequestFields {
    let members: [(key: String, value: JSONValue)]

    init(body: [UInt8]) throws(APIError) {
        guard let value = JSONValue.parse(String(decoding: body, as: UTF8.self)) else {
            throw APIError.invalid("the request body is not valid JSON", code: "invalid_json")
        }
        guard case .object(let members) = value else { throw APIError.invalid("the request body must be a JSON object", code: "invalid_json") }
        self.members = members
    }

    subscript(key: String) -> JSONValue? {
        guard let v = members.first(where: { $0.key == key })?.value, !v.isNull else { return nil }
        return v
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = self[key] else { return nil }
        guard let s = v.stringValue else { throw APIError.invalid("'\(key)' must be a string", param: key, code: "invalid_type") }
        return s
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = self[key] else { return nil }
        guard let b = v.boolValue else { throw APIError.invalid("'\(key)' must be a boolean", param: key, code: "invalid_type") }
        return b
    }

    func number(_ key: String, in range: ClosedRange<Double>? = nil) throws(APIError) -> Double? {
        guard let v = self[key] else { return nil }
        guard let d = v.doubleValue, d.isFinite else { throw APIError.invalid("'\(key)' must be a number", param: key, code: "invalid_type") }
        if let range, !range.contains(d) {
            throw APIError.invalid("'\(key)' must be between \(range.lowerBound) and \(range.upperBound) (got \(d))", param: key)
        }
        return d
    }

    func integer(_ key: String) throws(APIError) -> Int? {
        guard let v = self[key] else { return nil }
        guard let i = v.intValue else { throw APIError.invalid("'\(key)' must be an integer", param: key, code: "invalid_type") }
        return i
    }

    func object(_ key: String) throws(APIError) -> RequestFields? {
        guard let v = self[key] else { return nil }
        guard case .object(let m) = v else { throw APIError.invalid("'\(key)' must be an object", param: key, code: "invalid_type") }
        return RequestFields(members: m)
    }

    init(members: [(key: String, value: JSONValue)]) { self.members = members }
}

/// What both endpoints take besides the prompt: sampling, length, stop strings, streaming.
struct GenerationParameters {
    var sampling: SamplingOptions
    /// As asked (nil: the rest of the context).
    var maxTokens: Int?
    var stop: [String] = []
    var stream = false
    var includeUsage = false
    var ignoreEOS = false
    /// response_format json_object / json_schema: decoding is constrained to one JSON object (not to a schema).
    var wantsJSON = false

    /// Reads the common fields; `defaults` are the server's sampling options (its command line).
    init(_ f: RequestFields, defaults: SamplingOptions, contextLength: Int) throws(APIError) {
        sampling = defaults
        if let t = try f.number("temperature", in: 0 ... 100) { sampling.temperature = Float(t) }
        if let p = try f.number("top_p") {
            guard p > 0, p <= 1 else { throw APIError.invalid("'top_p' must be in (0, 1] (got \(p))", param: "top_p") }
            sampling.topP = Float(p)
        }
        if let k = try f.integer("top_k") {
            guard k >= 0 else { throw APIError.invalid("'top_k' must be ≥ 0 (got \(k))", param: "top_k") }
            sampling.topK = k
        }
        if let m = try f.number("min_p") {
            guard m >= 0, m < 1 else { throw APIError.invalid("'min_p' must be in [0, 1) (got \(m))", param: "min_p") }
            sampling.minP = Float(m)
        }
        if let s = try f.integer("seed") { sampling.seed = UInt64(bitPattern: Int64(s)) }
        // OpenAI's additive penalties over the last `repetitionWindow` tokens (as llama-server); the multiplicative
        // repetition penalty of llama.cpp / vLLM is taken as is.
        if let p = try f.number("presence_penalty", in: -2 ... 2) { sampling.presencePenalty = Float(p) }
        if let p = try f.number("frequency_penalty", in: -2 ... 2) { sampling.frequencyPenalty = Float(p) }
        for key in ["repetition_penalty", "repeat_penalty"] {
            if let r = try f.number(key) {
                guard r > 0 else { throw APIError.invalid("'\(key)' must be > 0 (got \(r))", param: key) }
                sampling.repetitionPenalty = Float(r)
            }
        }
        for key in ["max_completion_tokens", "max_tokens"] {
            guard let n = try f.integer(key) else { continue }
            guard n >= 1 else { throw APIError.invalid("'\(key)' must be ≥ 1 (got \(n))", param: key) }
            guard n <= contextLength else {
                throw APIError.invalid("'\(key)' (\(n)) exceeds the context of \(contextLength) tokens", param: key)
            }
            maxTokens = n
            break
        }
        if let n = try f.integer("n"), n != 1 { throw APIError.invalid("only n = 1 is supported", param: "n") }
        if let n = try f.integer("best_of"), n != 1 { throw APIError.invalid("only best_of = 1 is supported", param: "best_of") }
        // Chat's logprobs is a boolean, the completions endpoint's a count.
        switch f["logprobs"] {
        case .bool(true)?, .number?: if f["logprobs"]?.intValue != 0 { throw APIError.invalid("logprobs are not supported", param: "logprobs") }
        default: break
        }
        if let stop = f["stop"] {
            switch stop {
            case .string(let s): self.stop = [s]
            case .array(let items):
                for item in items {
                    guard let s = item.stringValue else { throw APIError.invalid("'stop' must be a string or an array of strings", param: "stop", code: "invalid_type") }
                    self.stop.append(s)
                }
            default: throw APIError.invalid("'stop' must be a string or an array of strings", param: "stop", code: "invalid_type")
            }
            self.stop.removeAll { $0.isEmpty }
            guard self.stop.count <= 16 else { throw APIError.invalid("at most 16 stop strings", param: "stop") }
        }
        stream = try f.bool("stream") ?? false
        includeUsage = try f.object("stream_options")?.bool("include_usage") ?? false
        ignoreEOS = try f.bool("ignore_eos") ?? false
        _ = try f.string("model")   // any name is accepted; responses name the served model
        if let format = try f.object("response_format") {
            switch try format.string("type") {
            case nil, "text": break
            case "json_object", "json_schema": wantsJSON = true
            case let other?: throw APIError.invalid("response_format type '\(other)' is not supported", param: "response_format")
            }
        }
    }
}

/// A chat completion request: the messages and tools for the template, and the generation parameters.
struct ChatCompletionParameters {
    var messages: [ChatMessage]
    /// The request's `tools` for the template (keys in order) and as JSON text for the reply parser; nil with
    /// tool_choice "none".
    var tools: JinjaValue?
    var toolsJSON: String?
    var variables: [String: JinjaValue] = [:]
    var generation: GenerationParameters

    init(_ f: RequestFields, defaults: SamplingOptions, contextLength: Int) throws(APIError) {
        generation = try GenerationParameters(f, defaults: defaults, contextLength: contextLength)
        guard let raw = f["messages"] else { throw APIError.invalid("'messages' is required", param: "messages", code: "missing_required_parameter") }
        guard let list = raw.arrayValue else { throw APIError.invalid("'messages' must be an array", param: "messages", code: "invalid_type") }
        guard !list.isEmpty else { throw APIError.invalid("'messages' must not be empty", param: "messages") }
        messages = []
        for (i, m) in list.enumerated() { messages.append(try Self.message(m, index: i)) }

        if let tools = f["tools"] {
            guard case .array = tools else { throw APIError.invalid("'tools' must be an array", param: "tools", code: "invalid_type") }
            var useTools = true
            switch f["tool_choice"] {
            case nil: break
            case .string("none")?: useTools = false
            case .string("auto")?, .string("required")?, .object?: break   // not enforced: the model chooses (Docs/SERVER.md)
            default: throw APIError.invalid("'tool_choice' must be \"none\", \"auto\", \"required\" or an object", param: "tool_choice")
            }
            if useTools, !(tools.arrayValue ?? []).isEmpty {
                toolsJSON = tools.compactText
                do { self.tools = try JinjaValue.parseJSON(tools.compactText) } catch {
                    throw APIError.invalid("'tools' could not be read: \(error)", param: "tools")
                }
            }
        }
        // Template keywords: vLLM's chat_template_kwargs (enable_thinking, …) and OpenAI's reasoning_effort.
        if let kwargs = try f.object("chat_template_kwargs") {
            for (k, v) in kwargs.members {
                do { variables[k] = try JinjaValue.parseJSON(v.compactText) } catch {
                    throw APIError.invalid("chat_template_kwargs.\(k) could not be read", param: "chat_template_kwargs")
                }
            }
        }
        if let effort = try f.string("reasoning_effort") { variables["reasoning_effort"] = .string(effort) }
    }

    /// One message: role, content (a string, null, or text parts), an assistant's tool_calls and
    /// reasoning_content, a tool result's tool_call_id and name.
    static func message(_ value: JSONValue, index i: Int) throws(APIError) -> ChatMessage {
        let param = "messages[\(i)]"
        guard case .object(let members) = value else { throw APIError.invalid("\(param) must be an object", param: param, code: "invalid_type") }
        let m = RequestFields(members: members)
        guard let role = try m.string("role") else { throw APIError.invalid("\(param).role is required", param: param, code: "missing_required_parameter") }
        guard ["system", "developer", "user", "assistant", "tool", "function"].contains(role) else {
            throw APIError.invalid("\(param).role '\(role)' is not one of system, developer, user, assistant, tool", param: param)
        }
        var content = ""
        switch m["content"] {
        case nil: break
        case .string(let s)?: content = s
        case .array(let parts)?:
            for part in parts {
                guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                    throw APIError.invalid("\(param).content: only text parts are supported", param: param)
                }
                content += text
            }
        default: throw APIError.invalid("\(param).content must be a string, an array of text parts, or null", param: param, code: "invalid_type")
        }
        var toolCalls: [ToolCall]?
        if let calls = m["tool_calls"] {
            guard let list = calls.arrayValue else { throw APIError.invalid("\(param).tool_calls must be an array", param: param, code: "invalid_type") }
            toolCalls = []
            for call in list {
                guard let function = call["function"], let name = function["name"]?.stringValue else {
                    throw APIError.invalid("\(param).tool_calls: each needs function.name", param: param)
                }
                // OpenAI sends the arguments as a JSON string; an object is taken too.
                let arguments: String
                switch function["arguments"] {
                case .string(let s)?: arguments = s
                case nil, .null?: arguments = "{}"
                case let other?: arguments = other.compactText
                }
                toolCalls?.append(ToolCall(id: call["id"]?.stringValue, name: name, arguments: arguments))
            }
        }
        return ChatMessage(role: role == "developer" ? "system" : role, content: content,
                           reasoningContent: try m.string("reasoning_content"), toolCalls: toolCalls,
                           toolCallId: try m.string("tool_call_id"), name: try m.string("name"))
    }
}

/// A text completion request: the prompt and the generation parameters.
struct CompletionParameters {
    var prompt: String
    var echo: Bool
    var generation: GenerationParameters

    init(_ f: RequestFields, defaults: SamplingOptions, contextLength: Int) throws(APIError) {
        generation = try GenerationParameters(f, defaults: defaults, contextLength: contextLength)
        switch f["prompt"] {
        case nil: throw APIError.invalid("'prompt' is required", param: "prompt", code: "missing_required_parameter")
        case .string(let s)?: prompt = s
        case .array(let items)? where items.count == 1 && items[0].stringValue != nil: prompt = items[0].stringValue!
        default: throw APIError.invalid("'prompt' must be a string (or an array of one string)", param: "prompt", code: "invalid_type")
        }
        guard !prompt.isEmpty else { throw APIError.invalid("'prompt' must not be empty", param: "prompt") }
        echo = try f.bool("echo") ?? false
    }
}
