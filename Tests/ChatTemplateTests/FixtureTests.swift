import ChatTemplate
import Foundation
import Testing
import TestSupport

/// ../shared/chat-templates: 17 real chat templates and 102 renders of them by transformers 5.25
/// (render_jinja_template, strftime_now pinned to 2026-12-04). 100 must come out byte for byte, the 2
/// that raised in Python must throw here: Kimi-K2-Thinking's list.append (the sandbox's SecurityError)
/// and Mistral-Nemo's raise_exception.
@Suite struct FixtureTests {
    static let folder = SharedData.root.map { $0 + "/chat-templates" }
    static let available = folder.map { FileManager.default.fileExists(atPath: $0 + "/fixtures.json") } ?? false

    @Test("transformers' renders of 17 real templates, byte for byte", .enabled(if: available, "../shared/chat-templates is absent"))
    func fixtures() throws {
        let folder = try #require(Self.folder)
        let text = try String(contentsOfFile: folder + "/fixtures.json", encoding: .utf8)
        guard case .object(let top) = try JinjaValue.parseJSON(text), case .array(let fixtures)? = top["fixtures"] else {
            Issue.record("fixtures.json has no fixtures list")
            return
        }
        #expect(fixtures.count == 102)
        // 2026-12-04 00:00 UTC, the date strftime_now returned when the fixtures were made.
        let now = Date(timeIntervalSince1970: 1_796_342_400)
        var templates: [String: ChatTemplate] = [:]
        var rendered = 0, raised = 0
        for case .object(let fixture) in fixtures {
            let name = fixture["template"]?.pythonString ?? "?"
            let label = "\(name) / \(fixture["case"]?.pythonString ?? "?")"
            if templates[name] == nil {
                templates[name] = try ChatTemplate(source: String(contentsOfFile: "\(folder)/\(name).jinja", encoding: .utf8))
            }
            // transformers passes tools=None when there are none; the variables object adds bos/eos tokens etc.
            var context: [String: JinjaValue] = [
                "messages": fixture["messages"] ?? .none,
                "tools": fixture["tools"] ?? .none,
                "add_generation_prompt": fixture["add_generation_prompt"] ?? .bool(false),
            ]
            if case .object(let variables)? = fixture["variables"] {
                for (k, v) in variables.pairs { context[k.pythonString] = v }
            }
            if case .string(let expected)? = fixture["rendered"] {
                let got = try templates[name]!.render(context, now: now)
                #expect(got == expected, "\(label)")
                if got == expected { rendered += 1 }
            } else {
                let expected = fixture["error"]?.pythonString ?? ""
                do {
                    _ = try templates[name]!.render(context, now: now)
                    Issue.record("\(label): rendered, but transformers raised \(expected)")
                } catch let e as TemplateError {
                    // Same text as Python's: "SecurityError: …" as is, raise_exception as jinja2's TemplateError.
                    let python = e.kind == .raised ? "TemplateError: " + e.message : e.message
                    #expect(python == expected, "\(label)")
                    #expect(e.line > 0 && e.column > 0, "\(label): no position")
                    raised += 1
                }
            }
        }
        #expect(rendered == 100 && raised == 2)
    }
}
