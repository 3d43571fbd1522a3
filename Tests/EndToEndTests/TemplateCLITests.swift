import Foundation
import Testing
import TestSupport

/// `moe template` as a user runs it: a real chat template rendered to stdout exactly as transformers did
/// (../shared/chat-templates/fixtures.json), and a syntax error as one line with file, line and column.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: CLI.binary), "moe binary not built beside the tests"))
struct TemplateCLITests {
    static let folder = SharedData.root + "/chat-templates"

    @Test("renders a fixture's template and messages to stdout, byte for byte, no newline added",
          .enabled(if: FileManager.default.fileExists(atPath: folder + "/fixtures.json"), "../shared/chat-templates is absent"))
    func fixture() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.folder + "/fixtures.json"))
        let top = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let fixtures = try #require(top["fixtures"] as? [[String: Any]])
        // Qwen3 with a system prompt and several turns, thinking stripped from history; no tools, so the
        // context's key order (which JSONSerialization does not keep) cannot matter.
        let fixture = try #require(fixtures.first { $0["template"] as? String == "Qwen-Qwen3-0.6B" && $0["case"] as? String == "system-multi-turn" })
        let expected = try #require(fixture["rendered"] as? String)
        var context = try #require(fixture["variables"] as? [String: Any])
        context["messages"] = fixture["messages"]
        context["tools"] = NSNull()
        context["add_generation_prompt"] = fixture["add_generation_prompt"]
        let dir = try TempDir("moe-template")
        defer { dir.cleanup() }
        try JSONSerialization.data(withJSONObject: context).write(to: URL(fileURLWithPath: dir.file("context.json")))
        let r = try CLI.run(["template", "--template", Self.folder + "/Qwen-Qwen3-0.6B.jinja", "--context", dir.file("context.json"), "--now", "2026-12-04"])
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
        #expect(r.stdout == expected)
    }

    @Test("a syntax error: exit 1, one line 'moe: error: FILE:LINE:COL: message', nothing on stdout")
    func syntaxError() throws {
        let dir = try TempDir("moe-template")
        defer { dir.cleanup() }
        let template = dir.file("bad.jinja")
        try "{% for m in messages %}\n  {{ m.content | nosuchfilter }}\n{% endfor %}".write(toFile: template, atomically: true, encoding: .utf8)
        try #"{"messages": [{"role": "user", "content": "hi"}]}"#.write(toFile: dir.file("c.json"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["template", "--template", template, "--context", dir.file("c.json")])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr == "moe: error: \(template):2:18: no filter named 'nosuchfilter'\n")
        // strftime_now without --now: today's date, in UTC.
        try "{{ strftime_now('%Y') }}".write(toFile: template, atomically: true, encoding: .utf8)
        let today = try CLI.run(["template", "--template", template, "--context", dir.file("c.json")])
        #expect(today.status == 0 && today.stdout == String(Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date()).year!))
    }
}
