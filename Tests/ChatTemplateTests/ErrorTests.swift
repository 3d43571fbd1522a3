import ChatTemplate
import Foundation
import Testing

/// Failures: each a TemplateError of the right kind at the line and column of the offending token.
@Suite struct ErrorTests {
    func expectError(_ source: String, _ kind: TemplateError.Kind, line: Int, column: Int, containing text: String,
                     limits: RenderLimits = RenderLimits(), sourceLocation: SourceLocation = #_sourceLocation) {
        guard let e = renderError(source, limits: limits) else {
            Issue.record("\(source.prefix(80).debugDescription) rendered without error", sourceLocation: sourceLocation)
            return
        }
        #expect(e.kind == kind && e.line == line && e.column == column && e.message.contains(text),
                "\(source.prefix(80).debugDescription): \(e.kind) \(e)", sourceLocation: sourceLocation)
    }

    @Test("syntax errors: position of the offending token")
    func syntax() {
        expectError("{% if %}", .syntax, line: 1, column: 7, containing: "unexpected '%}'")
        expectError("a\n{% blah %}", .syntax, line: 2, column: 4, containing: "unknown tag 'blah'")
        expectError("{% include 'x' %}", .syntax, line: 1, column: 4, containing: "unknown tag 'include'")
        expectError("line\n  {% for x in xs %}\n{{ x }}", .syntax, line: 2, column: 6, containing: "'for' block is never closed")
        expectError("{% if 1 %}{% endfor %}", .syntax, line: 1, column: 14, containing: "unknown tag 'endfor'")
        expectError("{{ 1 + }}", .syntax, line: 1, column: 8, containing: "unexpected '}}'")
        expectError("x\n\n  {{ (1, 2 }}", .syntax, line: 3, column: 12, containing: "expected ')'")
        expectError("{# unclosed", .syntax, line: 1, column: 1, containing: "comment")
        expectError("{{ 'abc }}", .syntax, line: 1, column: 4, containing: "unterminated string")
        expectError("{% break %}", .syntax, line: 1, column: 4, containing: "outside of a for loop")
        expectError("{{ x @ y }}", .syntax, line: 1, column: 6, containing: "unexpected char")
        expectError("{% macro m(a=1, b) %}{% endmacro %}", .syntax, line: 1, column: 17, containing: "non-default argument")
    }

    @Test("unknown filter or test: at parse time, or at render time inside an if (as Jinja2 3.x)")
    func unknownFilter() throws {
        expectError("{{ s|nosuch }}", .syntax, line: 1, column: 6, containing: "no filter named 'nosuch'")
        expectError("{{ s is nosuch }}", .syntax, line: 1, column: 9, containing: "no test named 'nosuch'")
        // DeepSeek-V3.2's `args | from_json` sits in an if: the template parses, the render fails only there.
        #expect(try render("{% if false %}{{ s|from_json }}{% endif %}ok") == "ok")
        // Also in either branch of a conditional expression, the part before `if` included.
        #expect(try render("{{ s|truncate(3) if false else 'x' }}{{ 'y' if true else s is nosuch }}") == "xy")
        expectError("{% if true %}\n {{ s|from_json }}{% endif %}", .runtime, line: 2, column: 7, containing: "no filter named 'from_json'")
        expectError("{{ xs|select('nosuch')|list }}", .runtime, line: 1, column: 7, containing: "no test named 'nosuch'")
    }

    @Test("runtime errors: raise_exception, sandbox, undefined misuse, types")
    func runtime() {
        expectError("{{ raise_exception('boom') }}", .raised, line: 1, column: 19, containing: "boom")
        expectError("{% set _ = xs.append(4) %}", .security, line: 1, column: 21, containing: "access to attribute 'append' of 'list' object is unsafe.")
        expectError("{{ d.update({}) }}", .security, line: 1, column: 12, containing: "'update' of 'dict'")
        expectError("{{ undefinedvar.attr }}", .runtime, line: 1, column: 16, containing: "'undefinedvar' is undefined")
        expectError("{{ d.z.nope.deeper }}", .runtime, line: 1, column: 12, containing: "'dict object' has no attribute 'nope'")
        expectError("{{ 'a' + 1 }}", .runtime, line: 1, column: 8, containing: "can only concatenate str")
        expectError("{{ 1 // 0 }}", .runtime, line: 1, column: 6, containing: "ZeroDivisionError")
        expectError("{% for x in n %}{% endfor %}", .runtime, line: 1, column: 13, containing: "'NoneType' object is not iterable")
        expectError("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", .runtime, line: 1, column: 35, containing: "takes not more than 1 argument")
        expectError("{% set x = 1 %}{% set x.y = 2 %}", .runtime, line: 1, column: 19, containing: "non-namespace")
        expectError("{{ range(1000000)|length }}", .runtime, line: 1, column: 9, containing: "MAX_RANGE")
        expectError("{{ 2 ** 64 }}", .runtime, line: 1, column: 6, containing: "OverflowError")
        // Names that come from the template's data are quoted as Python's repr: a message stays one line.
        expectError("{{ xs|map('a\nb')|list }}", .runtime, line: 1, column: 7, containing: #"no filter named 'a\nb'"#)
        expectError("{{ 'abc'['x\ny'].z }}", .runtime, line: 2, column: 4, containing: #"has no attribute 'x\ny'"#)
        // The fuzzer's first finding: a **kwargs key with newlines made a message of several lines.
        expectError("{% macro m(a) %}{% endmacro %}{{ m(**{'k\n' ~ 'x' * 500: 3}) }}", .runtime, line: 1, column: 35,
                    containing: #"takes no keyword argument 'k\nxxx"#)
        #expect(renderError("{% macro m(a) %}{% endmacro %}{{ m(**{'k\n' ~ 'x' * 500: 3}) }}").map { $0.message.count < 200 } == true)
    }

    @Test("limits: recursion depth, output size, loop iterations end in errors, not hangs")
    func limits() {
        expectError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", .limit, line: 1, column: 21, containing: "nested deeper than 200")
        var small = RenderLimits()
        small.maxOutputBytes = 1000
        expectError("{% for i in range(100) %}{{ 'x' * 20 }}{% endfor %}", .limit, line: 1, column: 33, containing: "output exceeds 1000 bytes", limits: small)
        expectError("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", .limit,
                    line: 1, column: 76, containing: "exceeds 1000 bytes", limits: small)
        expectError("{{ 'x' * 100000 }}", .limit, line: 1, column: 8, containing: "exceeds 1000 bytes", limits: small)
        var fewLoops = RenderLimits()
        fewLoops.maxLoopIterations = 10_000
        expectError("{% for i in range(200) %}{% for j in range(200) %}{% endfor %}{% endfor %}", .limit, line: 1, column: 29,
                    containing: "loop iterations", limits: fewLoops)
    }

    /// Found by the chat-template fuzzer / adversarial inputs: each overflowed the stack before it was bounded.
    @Test("regressions: deep nesting is an error, not a stack overflow")
    func deepNesting() {
        let parens = "{{ " + String(repeating: "(", count: 8000) + "1" + String(repeating: ")", count: 8000) + " }}"
        expectError(parens, .syntax, line: 1, column: 104, containing: "nested too deeply")
        let lists = "{{ " + String(repeating: "[", count: 8000) + String(repeating: "]", count: 8000) + " }}"
        expectError(lists, .syntax, line: 1, column: 104, containing: "nested too deeply")
        let ifs = String(repeating: "{% if 1 %}", count: 4000) + "x" + String(repeating: "{% endif %}", count: 4000)
        expectError(ifs, .syntax, line: 1, column: 1987, containing: "nested too deeply")
        // Values nested through a namespace, one level per iteration, and a namespace holding itself.
        expectError("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
                    .limit, line: 1, column: 62, containing: "nested deeper than 256")
        expectError("{% set ns = namespace(x=1) %}{% set ns.x = ns %}{{ ns }}", .limit, line: 1, column: 33, containing: "containing itself")
        #expect(throws: TemplateError.self) { try JinjaValue.parseJSON(String(repeating: "[", count: 600) + String(repeating: "]", count: 600)) }
        // A long flat chain is fine to parse but too deep to evaluate recursively: an error as well.
        let chain = "{{ " + Array(repeating: "1", count: 3000).joined(separator: " ~ ") + " }}"
        expectError(chain, .limit, line: 1, column: 10402, containing: "expression nested too deeply")
    }
}
