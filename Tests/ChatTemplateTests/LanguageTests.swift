import ChatTemplate
import Testing

/// The language, case by case. Every expected string is what Python's jinja2 3.1.6 renders in transformers'
/// environment (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, transformers'
/// tojson) from the same template and context (Support.swift), pasted verbatim.
@Suite struct LanguageTests {
    @Test("whitespace: trim_blocks, lstrip_blocks and - / + markers")
    func whitespace() throws {
        #expect(try render("  {% if true %}\n  x\n  {% endif %}\n{{ 1 }}  {% if 1 %}y{% endif %}\n") == "  x\n1  y")
        #expect(try render("a\n  {#- c #}  \n  {# c #}\nb\n\n") == "a  \nb\n")
        #expect(try render("x {%+ if 1 %}y{% endif +%}\nz") == "x y\nz")
        #expect(try render("a  {{- 1 -}}  \n b") == "a1b")
        #expect(try render("{% for x in xs %}\n  {{ x }}\n{% endfor %}\n") == "  1\n  2\n  3\n")
        #expect(try render("{% for x in xs -%}\n  {{ x }}\n{%- endfor %}") == "123")
        #expect(try render("\t{% set a = 1 %}\n\t{{ a }}\n") == "\t1")
        #expect(try render("{{ 'a' }}  {% if 1 %}x{% endif %}") == "a  x")
        #expect(try render("x\n    {% raw %}{{ y }}{% endraw %}\nz") == "x\n{{ y }}z")
        #expect(try render("{% if 1 %}\r\nA\r\n{% endif %}\r\n") == "A\n")
    }

    @Test("loops: loop variables, filtering, else, break and continue")
    func loops() throws {
        #expect(try render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}") == "1032TrueFalse3|2121FalseFalse3|3210FalseTrue3|")
        #expect(try render("{% for x in xs %}{{ loop.previtem }}-{{ loop.nextitem }};{{ loop.cycle('a', 'b') }}{% endfor %}") == "-2;a1-3;b2-;a")
        #expect(try render("{% for x in xs if x > 1 %}{{ x }}{{ loop.index }}{{ loop.last }}{% endfor %}") == "21False32True")
        #expect(try render("{% for x in [] %}a{% else %}empty{% endfor %}") == "empty")
        #expect(try render("{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}|{% for x in xs %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}") == "13|1")
        #expect(try render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'ab' %}{{ c }}.{% endfor %}") == "b=[1, 'x'];a=1;z={'k': None, 't': True, 'f': 1.5};baza.b.")
        #expect(try render("{% for m in msgs[::-1] %}{{ loop.index0 }}{{ m.role }}{% endfor %}") == "0assistant1user2system")
    }

    @Test("scoping: sets in loops do not leak, namespace does")
    func scoping() throws {
        #expect(try render("{% for i in range(3) %}{{ x|default('u') }}{% set x = i %}{% endfor %}") == "uuu")
        #expect(try render("{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = 5 %}{{x}}{% endfor %}{{x}}") == "15151")
        #expect(try render("{% set ns = namespace(a=1, b='x') %}{% for i in xs %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}") == "7x")
        #expect(try render("{% if true %}{% set y = 3 %}{% endif %}{{ y }}") == "3")
        #expect(try render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t %}hello {{ s }}{% endset %}[{{ t }}]{% set u | upper %}up{% endset %}{{ u }}") == "12[hello Hello World]UP")
        #expect(try render("{% with a = 5 %}{{ a }}{% endwith %}{{ a }}") == "5")
    }

    @Test("macros: defaults, keywords, varargs, caller, recursion")
    func macros() throws {
        #expect(try render("{% macro m(a, b=2) %}{{a}}{{b}}{% endmacro %}{{ m(1) }}{{ m(1, 3) }}{{ m(b=5, a=4) }}") == "121345")
        #expect(try render("{% macro m(a, b=2) %}{{a}}{{b}}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 3, 4, z=5) }}") == "13(4,){'z': 5}")
        #expect(try render("{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}inner {{ s }}{% endcall %}") == "[inner Hello World]")
        #expect(try render("{% macro m() %}[{{ caller(1, 2) }}]{% endmacro %}{% call(a, b) m() %}{{ a + b }}{% endcall %}") == "[3]")
        #expect(try render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}") == "54321")
        #expect(try render("{% macro m(x) -%}\n  {{ x }}\n{%- endmacro %}\n{{ m('a') }}|{{ m }}") == "a|<Macro 'm'>")
    }

    @Test("expressions: Python arithmetic, logic, comparisons, slicing")
    func expressions() throws {
        #expect(try render("{{ 2**3**2 }} {{ -2**2 }} {{ 7//-2 }} {{ -7 % 3 }} {{ 1/2 }} {{ 4/2 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 2 ** -1 }}") == "64 4 -4 2 0.5 2.0 3.0 0.5 0.5")
        #expect(try render("{{ 'a' ~ 1 ~ none }}|{{ xs[::-1] }}{{ 'abc'[1:] }}{{ xs[5] }}{{ xs[-1] }}{{ s[-5:] }}{{ s[::2] }}{{ xs[1:2] }}{{ xs[:-1] }}{{ s[10:2:-2] }}") == "a1None|[3, 2, 1]bc3WorldHloWrd[2][1, 2]drWo")
        #expect(try render("{{ 1 if true }}|{{ 1 if false }}|{{ 1 if false else 2 }}|{{ 'a' if n is none else 'b' }}") == "1||2|a")
        #expect(try render("{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ '' and 1 }}|{{ none or [] }}|{{ not 0 }}|{{ not [] }}") == "x|y||[]|True|True")
        #expect(try render("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ [1,2] < [1,3] }}{{ 'a' in 'cat' }}{{ 2 in xs }}{{ 'a' in d }}{{ 5 not in xs }}") == "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrue")
        #expect(try render("{{ u[::-1] }}{{ u|length }}{{ u[0:3] }}") == "\\\t\n🙂 \"京東\" eßürg15grü")
    }

    @Test("strings: Python str() of values as templates print them")
    func strings() throws {
        #expect(try render("{{ d }}{{ xs }}{{ 1.0 }}{{ 1e16 }}{{1e15}}{{ (1,) }}{{ d.items()|list }}{{ none }}{{ true }}{{ (1, 'a') }}{{ {} }}{{ [] }}") == "{'b': [1, 'x'], 'a': 1, 'z': {'k': None, 't': True, 'f': 1.5}}[1, 2, 3]1.01e+161000000000000000.0(1,)[('b', [1, 'x']), ('a', 1), ('z', {'k': None, 't': True, 'f': 1.5})]NoneTrue(1, 'a'){}[]")
        #expect(try render("{{ u }}|{{ [u] }}|{{ ['it\\'s'] }}|{{ ['a\"b'] }}") == "grüße \"東京\" 🙂\n\t\\|['grüße \"東京\" 🙂\\n\\t\\\\']|[\"it's\"]|['a\"b']")
        #expect(try render("{{ ['\\x00\\x1f\\x7f\\u2028\\u00a0\\u200b é\\U0001F600'] }}") == "['\\x00\\x1f\\x7f\\u2028\\xa0\\u200b é😀']")
        #expect(try render("{{ [1.5, 1e20, 1e-7, -0.0, 3.0]|string }}{{ 'a\\tb\\n\\u00e9\\x41\\\\q' }}{{ \"dq\" 'sq' }}{{ 1_000 }}{{ 0x1F }}{{ 1.5e3 }}") == "[1.5, 1e+20, 1e-07, -0.0, 3.0]a\tb\néA\\qdqsq1000311500.0")
    }

    @Test("undefined: renders empty, is falsy, iterates empty")
    func undefined() throws {
        #expect(try render("{{ undefinedvar }}|{{ undefinedvar is defined }}|{{ undefinedvar|default('D') }}|{{ n|default('D') }}|{{ e|default('D', true) }}|{{ undefinedvar|length }}") == "|False|D|None|D|0")
        #expect(try render("{% if undefinedvar %}y{% else %}n{% endif %}{% for x in undefinedvar %}{% endfor %}{{ undefinedvar == undefinedvar }}") == "nTrue")
        #expect(try render("{{ d.missing }}|{{ n.x }}|{{ xs.foo }}|{{ s.nope }}|{{ xs.append }}") == "||||")
    }

    @Test("filters")
    func filters() throws {
        #expect(try render("{{ '  x  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ s|upper }}{{ s|lower }}{{ 'hello wORLD-foo(bar'|title }}{{ 'hELLO'|capitalize }}") == "x|a|HELLO WORLDhello worldHello World-Foo(BarHello")
        #expect(try render("{{ s|replace('o', '0') }}{{ s|replace('o', '0', 1) }}{{ words|join(', ') }}{{ xs|join }}{{ msgs|join('|', attribute='role') }}") == "Hell0 W0rldHell0 Worldb, A, c, a123system|user|assistant")
        #expect(try render("{{ xs|first }}{{ xs|last }}{{ '42'|int }}{{ '4.7'|int }}{{ 'x'|int(7) }}{{ '1.5'|float }}{{ s|list }}{{ xs|reverse|list }}") == "1342471.5['H', 'e', 'l', 'l', 'o', ' ', 'W', 'o', 'r', 'l', 'd'][3, 2, 1]")
        #expect(try render("{{ words|unique|list }}{{ d|dictsort }}{{ words|sort }}{{ words|sort(case_sensitive=true, reverse=true) }}") == "['b', 'A', 'c'][('a', 1), ('b', [1, 'x']), ('z', {'k': None, 't': True, 'f': 1.5})]['A', 'a', 'b', 'c']['c', 'b', 'a', 'A']")
        #expect(try render("{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb\\n\\nc'|indent(2, true) }}|{{ 'a\\nb\\n\\nc'|indent(2, blank=true) }}|{{ 'a\\nb'|indent('>>', first=true) }}") == "a\n    b\n\n    c|  a\n  b\n\n  c|a\n  b\n  \n  c|>>a\n>>b")
        #expect(try render("{{ (-3)|abs }}{{ 2.567|round(2) }}{{ 2.5|round }}{{ 3.5|round }}{{ xs|min }}{{ xs|max }}{{ xs|sum }}") == "32.572.04.0136")
        #expect(try render("{{ msgs|map(attribute='role')|list }}{{ xs|map('string')|list }}{{ msgs|selectattr('role', 'equalto', 'user')|list }}{{ msgs|rejectattr('role', 'equalto', 'user')|map(attribute='role')|list }}") == "['system', 'user', 'assistant']['1', '2', '3'][{'role': 'user', 'content': 'hi'}]['system', 'assistant']")
        #expect(try render("{{ xs|select('odd')|list }}{{ [0, 1, '', 'a']|select|list }}{{ words|reject('equalto', 'a')|join(',') }}{{ s|length }}{{ d|items|list }}") == "[1, 3][1, 'a']b,A,c11[('b', [1, 'x']), ('a', 1), ('z', {'k': None, 't': True, 'f': 1.5})]")
    }

    @Test("tojson: Python json.dumps, key order kept, no HTML escaping")
    func tojson() throws {
        #expect(try render("{{ d|tojson }}|{{ u|tojson }}|{{ xs|tojson(indent=2) }}|{{ d|tojson(indent=4) }}|{{ {}|tojson(indent=2) }}|{{ none|tojson }}") == "{\"b\": [1, \"x\"], \"a\": 1, \"z\": {\"k\": null, \"t\": true, \"f\": 1.5}}|\"grüße \\\"東京\\\" 🙂\\n\\t\\\\\"|[\n  1,\n  2,\n  3\n]|{\n    \"b\": [\n        1,\n        \"x\"\n    ],\n    \"a\": 1,\n    \"z\": {\n        \"k\": null,\n        \"t\": true,\n        \"f\": 1.5\n    }\n}|{}|null")
        #expect(try render("{{ d|tojson(sort_keys=true) }}{{ u|tojson(ensure_ascii=true) }}{{ d|tojson(separators=(',', ':')) }}{{ (1,2)|tojson }}{{ {1: 2, true: 3}|tojson }}") == "{\"a\": 1, \"b\": [1, \"x\"], \"z\": {\"f\": 1.5, \"k\": null, \"t\": true}}\"gr\\u00fc\\u00dfe \\\"\\u6771\\u4eac\\\" \\ud83d\\ude42\\n\\t\\\\\"{\"b\":[1,\"x\"],\"a\":1,\"z\":{\"k\":null,\"t\":true,\"f\":1.5}}[1, 2]{\"1\": 3}")
        #expect(try render("{{ [1.5, 1e20, 1e-7, -0.0, 3.0, 0.1+0.2]|tojson }}{{ '\\x00\\x1f\\x7f\\u2028 é </script>&'|tojson }}{{ msgs|tojson }}") == "[1.5, 1e+20, 1e-07, -0.0, 3.0, 0.30000000000000004]\"\\u0000\\u001f\u{7f}  é </script>&\"[{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \" <think>r</think>\\n\\nans  \"}]")
    }

    @Test("methods: str, dict and list methods templates call")
    func methods() throws {
        #expect(try render("{{ s.split() }}{{ s.split('o') }}{{ 'a,b,,c'.split(',', 1) }}{{ '  a  b  '.split() }}{{ 'a b c'.split(none, 1) }}{{ 'a,b,c'.rsplit(',', 1) }}{{ '  a b  '.rsplit(None, 1) }}") == "['Hello', 'World']['Hell', ' W', 'rld']['a', 'b,,c']['a', 'b']['a', 'b c']['a,b', 'c']['  a', 'b']")
        #expect(try render("{{ '  x '.strip() }}|{{ 'xxyxx'.strip('x') }}|{{ '\\n\\nx\\n'.lstrip('\\n') }}|{{ 'x\\n '.rstrip() }}|{{ 'abc'.lstrip('ba') }}") == "x|y|x\n|x|c")
        #expect(try render("{{ s.startswith('He') }}{{ s.endswith(('x', 'ld')) }}{{ s.upper() }}{{ \"they're bill's\".title() }}{{ s.find('o') }}{{ s.count('o') }}{{ '-'.join(words) }}") == "TrueTrueHELLO WORLDThey'Re Bill'S42b-A-c-a")
        #expect(try render("{{ d.get('a') }}{{ d.get('q', 'def') }}{{ d.get('q') }}{{ d.keys()|list }}{{ d.values()|list }}{{ xs.index(2) }}{{ xs.count(1) }}{{ '{} and {}'.format(1, 'b') }}") == "1defNone['b', 'a', 'z'][[1, 'x'], 1, {'k': None, 't': True, 'f': 1.5}]111 and b")
        #expect(try render("{{ msgs[2].content.split('</think>')[-1].lstrip('\\n') }}|{{ msgs[2].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}") == "ans  |r")
    }

    @Test("tests: Jinja2's is-tests")
    func tests() throws {
        #expect(try render("{{ 1 is number }}{{ 1.0 is float }}{{ 1 is integer }}{{ true is integer }}{{ true is boolean }}{{ 's' is string }}{{ d is mapping }}{{ xs is sequence }}{{ s is iterable }}{{ 1 is iterable }}{{ n is none }}{{ d.get is callable }}") == "TrueTrueTrueFalseTrueTrueTrueTrueTrueFalseTrueTrue")
        #expect(try render("{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ 2 is in xs }}{{ 1 is eq 1 }}{{ 1 is ne 1 }}{{ 2 is gt 1 }}{{ 1 is le 0 }}{{ n is sameas none }}{{ 1 is true }}{{ undefinedvar is undefined }}") == "TrueTrueTrueTrueTrueTrueTrueFalseTrueFalseTrueFalseTrue")
    }

    @Test("transformers' {% generation %} tag renders its body")
    func generationTag() throws {
        #expect(try render("{% for m in msgs %}{% if m.role == 'assistant' %}{% generation %}[{{ m.content|trim }}]{% endgeneration %}{% endif %}{% endfor %}") == "[<think>r</think>\n\nans]")
    }
}
