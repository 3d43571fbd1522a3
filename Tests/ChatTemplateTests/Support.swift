import ChatTemplate
import Foundation

/// The context the language tests render with (the same JSON that produced the expected outputs with
/// Python's jinja2 3.1.6 in transformers' environment): key order matters for dicts and tojson.
let languageContextJSON = #"""
{"xs": [1, 2, 3], "d": {"b": [1, "x"], "a": 1, "z": {"k": null, "t": true, "f": 1.5}}, "s": "Hello World", "e": "", "n": null, "f": 1.5, "msgs": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": " <think>r</think>\n\nans  "}], "u": "grüße \"東京\" 🙂\n\t\\", "words": ["b", "A", "c", "a"]}
"""#

func objectVariables(_ json: String) throws -> [String: JinjaValue] {
    guard case .object(let o) = try JinjaValue.parseJSON(json) else { throw TemplateError(.syntax, "context is not an object") }
    var variables: [String: JinjaValue] = [:]
    for (k, v) in o.pairs { variables[k.pythonString] = v }
    return variables
}

/// Renders `source` with the language-test context (or `context`).
func render(_ source: String, _ context: [String: JinjaValue]? = nil, limits: RenderLimits = RenderLimits()) throws -> String {
    try ChatTemplate(source: source).render(context ?? objectVariables(languageContextJSON),
                                            now: Date(timeIntervalSince1970: 1_796_342_400), limits: limits)
}

/// The TemplateError `source` throws when parsed and rendered, nil if none.
func renderError(_ source: String, limits: RenderLimits = RenderLimits()) -> TemplateError? {
    do {
        _ = try render(source, limits: limits)
        return nil
    } catch let e as TemplateError {
        return e
    } catch {
        return TemplateError(.runtime, "untyped error \(error)")
    }
}
