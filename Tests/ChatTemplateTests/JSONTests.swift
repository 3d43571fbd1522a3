import ChatTemplate
import Testing

/// The order-preserving JSON reader a context comes in through.
@Suite struct JSONTests {
    @Test("object keys keep their order; ints stay ints; escapes and surrogate pairs decode")
    func parse() throws {
        let v = try JinjaValue.parseJSON(#"{"z": 1, "a": [1.5, -2, 1e3, true, null], "m": "\u00e9\ud83d\ude00\n\"", "b": {}}"#)
        guard case .object(let o) = v else { Issue.record("not an object"); return }
        #expect(o.keys.map(\.pythonString) == ["z", "a", "m", "b"])
        #expect(v.pythonString == #"{'z': 1, 'a': [1.5, -2, 1000.0, True, None], 'm': 'é😀\n"', 'b': {}}"#)
        #expect(try ChatTemplate(source: "{{ v|tojson }}").render(["v": v]) == #"{"z": 1, "a": [1.5, -2, 1000.0, true, null], "m": "é😀\n\"", "b": {}}"#)
    }

    @Test("malformed JSON: a TemplateError with its line and column")
    func malformed() {
        for (text, line, column) in [("{\"a\": }", 1, 7), ("[1,\n 2", 2, 3), ("{\"a\" 1}", 1, 6), ("tru", 1, 1), ("[1] x", 1, 5), ("\"\\q\"", 1, 4)] {
            do {
                _ = try JinjaValue.parseJSON(text)
                Issue.record("\(text.debugDescription) parsed")
            } catch let e as TemplateError {
                #expect(e.line == line && e.column == column, "\(text.debugDescription): \(e)")
            } catch {
                Issue.record("untyped \(error)")
            }
        }
    }
}
