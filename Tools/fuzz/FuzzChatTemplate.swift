import Foundation
@testable import ChatTemplate

// Target `chat-template`: the chat-template interpreter (Sources/ChatTemplate) on arbitrary bytes, twice:
// as a template rendered with a fixed chat context (messages with tool calls, tools, flags), and as the JSON
// context of a fixed template that walks every value. Input that parses and renders returns normally, and
// so does input refused with a TemplateError whose message is one line; a trap, an AddressSanitizer report,
// an untyped error, a hang (libFuzzer's -timeout) or runaway memory stops the fuzzer. The limits are
// smaller than the defaults so that a runaway template ends in a limit error well inside the timeout.

private let context: [String: JinjaValue] = {
    let json = #"""
    {"messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi <b>there</b> é 東京"},
     {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello", "tool_calls": [{"id": "call_1", "type": "function",
       "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]},
     {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp\": 21.5}"}, {"role": "user", "content": ["a", {"type": "text", "text": "b"}]}],
     "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object",
       "properties": {"city": {"type": "string"}, "days": {"type": "integer", "enum": [1, 2, 3]}}, "required": ["city"]}}}],
     "add_generation_prompt": true, "enable_thinking": false, "bos_token": "<s>", "eos_token": "</s>", "n": null, "f": 1.5}
    """#
    guard case .object(let o)? = try? JinjaValue.parseJSON(json) else { fatalError("fuzz context does not parse") }
    var variables: [String: JinjaValue] = [:]
    for (k, v) in o.pairs { variables[k.pythonString] = v }
    return variables
}()

private let walker = try! ChatTemplate(source: """
    {%- macro show(v, depth) -%}
    {%- if v is mapping -%}{% for k, x in v.items() %}{{ k }}={{ show(x, depth + 1) }};{% endfor %}
    {%- elif v is string -%}{{ v|trim|upper }}{{ v.split(',')|length }}
    {%- elif v is iterable -%}[{% for x in v %}{{ show(x, depth + 1) }}{% if not loop.last %},{% endif %}{% endfor %}]
    {%- else -%}{{ v }}{% endif -%}
    {%- endmacro -%}
    {{ show(value, 0) }}|{{ value|tojson }}|{{ value|tojson(indent=2, sort_keys=true) }}|{{ value|string }}
    """)

private let limits: RenderLimits = {
    var l = RenderLimits()
    l.maxCallDepth = 100
    l.maxOutputBytes = 1 << 20
    l.maxLoopIterations = 200_000
    return l
}()

private func expectTemplateError(_ error: Error) {
    guard let e = error as? TemplateError else { fatalError("untyped error \(type(of: error)): \(error)") }
    // raise_exception's message is the template's own text; every other message is ours and one line.
    if e.kind != .raised {
        guard !e.message.contains("\n"), !e.message.contains("\r") else { fatalError("error message of several lines: \(e.message.debugDescription)") }
        guard e.message.count < 600 else { fatalError("error message of \(e.message.count) characters: \(e.message.prefix(200))…") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    let now = Date(timeIntervalSince1970: 1_796_342_400)
    do {
        _ = try ChatTemplate(source: text).render(context, now: now, limits: limits)
    } catch {
        expectTemplateError(error)
    }
    do {
        let value = try JinjaValue.parseJSON(text)
        _ = try walker.render(["value": value], now: now, limits: limits)
    } catch {
        expectTemplateError(error)
    }
    return 0
}
