/// Splits a template into tokens the way Jinja2's lexer does with trim_blocks=True and lstrip_blocks=True
/// (transformers' settings), keep_trailing_newline=False:
/// - `{%- … -%}`, `{{- … -}}`, `{#- … -#}` strip all whitespace (newlines included) on that side;
/// - trim_blocks: the first newline right after a block or comment tag is dropped (`+%}` keeps it);
/// - lstrip_blocks: spaces and tabs from the start of a line up to a block or comment tag are dropped
///   (`{%+` keeps them), not before `{{`;
/// - one newline at the very end of the template is dropped; \r\n and \r become \n.
struct Lexer {
    private let src: [Unicode.Scalar]
    private var at = 0
    private var lineStarts: [Int] = [0]
    private var tokens: [Token] = []
    /// Whether the text about to be read starts a line (Jinja2's `line_starting`): true at the start and
    /// after a tag whose match ended with a newline.
    private var lineStarting = true

    init(_ source: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for s in source.unicodeScalars {
            if s == "\r" { scalars.append("\n"); previousCR = true; continue }
            if s == "\n" && previousCR { previousCR = false; continue }
            previousCR = false
            scalars.append(s)
        }
        if scalars.last == "\n" { scalars.removeLast() }
        src = scalars
        for (i, s) in src.enumerated() where s == "\n" { lineStarts.append(i + 1) }
    }

    static func tokenize(_ source: String) throws -> [Token] {
        var lexer = Lexer(source)
        try lexer.run()
        return lexer.tokens
    }

    func position(_ index: Int) -> SourcePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= index { lo = mid } else { hi = mid - 1 }
        }
        return SourcePosition(line: lo + 1, column: index - lineStarts[lo] + 1)
    }

    private func error(_ message: String, at index: Int) -> TemplateError {
        let p = position(index)
        return TemplateError(.syntax, message, line: p.line, column: p.column)
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        at + offset < src.count ? src[at + offset] : nil
    }

    private func starts(_ s: String, at index: Int) -> Bool {
        var i = index
        for c in s.unicodeScalars {
            guard i < src.count, src[i] == c else { return false }
            i += 1
        }
        return true
    }

    private static func isSpace(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" || s == "\n" || s == "\u{0B}" || s == "\u{0C}" }

    // MARK: - Text and tags

    private mutating func run() throws {
        while at < src.count {
            // The next tag opener.
            var tagStart = at
            var opener: Unicode.Scalar?
            while tagStart + 1 < src.count {
                if src[tagStart] == "{", ["{", "%", "#"].contains(src[tagStart + 1]) {
                    opener = src[tagStart + 1]
                    break
                }
                tagStart += 1
            }
            guard let kind = opener else {
                emitText(Array(src[at...]), sign: nil, isBlockOrComment: false)
                at = src.count
                break
            }
            let signIndex = tagStart + 2
            let sign: Unicode.Scalar? = signIndex < src.count && (src[signIndex] == "-" || src[signIndex] == "+") ? src[signIndex] : nil
            // A raw block's text goes through untouched.
            if kind == "%", let rawEnd = rawTagEnd(from: signIndex + (sign == nil ? 0 : 1)) {
                emitText(Array(src[at..<tagStart]), sign: sign, isBlockOrComment: true)
                try readRaw(openerEnd: rawEnd, start: tagStart)
                continue
            }
            emitText(Array(src[at..<tagStart]), sign: sign, isBlockOrComment: kind != "{")
            at = signIndex + (sign == nil ? 0 : 1)
            switch kind {
            case "#": try skipComment(start: tagStart)
            case "%":
                tokens.append(Token(kind: .blockBegin, position: position(tagStart)))
                try readExpression(end: "%", start: tagStart)
            default:
                tokens.append(Token(kind: .variableBegin, position: position(tagStart)))
                try readExpression(end: "}", start: tagStart)
            }
        }
        tokens.append(Token(kind: .eof, position: position(src.count)))
    }

    /// Adds the text before a tag, after the whitespace control that the tag's opener asks for.
    private mutating func emitText(_ text: [Unicode.Scalar], sign: Unicode.Scalar?, isBlockOrComment: Bool) {
        var text = text
        let start = at
        if sign == "-" {
            while let last = text.last, Lexer.isSpace(last) || last == "\r" { text.removeLast() }
        } else if sign == nil && isBlockOrComment {
            let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
            if (lineStart > 0 || lineStarting) && text[lineStart...].allSatisfy({ $0 == " " || $0 == "\t" }) {
                text.removeSubrange(lineStart...)
            }
        }
        if !text.isEmpty {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: text)
            tokens.append(Token(kind: .text(String(s)), position: position(start)))
        }
    }

    /// After `{%` (and its sign): if this is `raw` closed by `%}`, the index just past the closing `%}`.
    private func rawTagEnd(from index: Int) -> Int? {
        var i = index
        while i < src.count, Lexer.isSpace(src[i]) { i += 1 }
        guard starts("raw", at: i) else { return nil }
        i += 3
        while i < src.count, Lexer.isSpace(src[i]) { i += 1 }
        if i < src.count, src[i] == "-" || src[i] == "+" { i += 1 }
        return starts("%}", at: i) ? i + 2 : nil
    }

    private mutating func readRaw(openerEnd: Int, start: Int) throws {
        var bodyStart = openerEnd
        if src[openerEnd - 3] == "-" {
            while bodyStart < src.count, Lexer.isSpace(src[bodyStart]) { bodyStart += 1 }
        } else if src[openerEnd - 3] != "+", bodyStart < src.count, src[bodyStart] == "\n" {
            bodyStart += 1
        }
        // The first `{% endraw %}` (any whitespace control) closes it.
        var i = bodyStart
        while i + 1 < src.count {
            if src[i] == "{" && src[i + 1] == "%" {
                var j = i + 2
                let sign: Unicode.Scalar? = j < src.count && (src[j] == "-" || src[j] == "+") ? src[j] : nil
                if sign != nil { j += 1 }
                while j < src.count, Lexer.isSpace(src[j]) { j += 1 }
                if starts("endraw", at: j) {
                    j += 6
                    while j < src.count, Lexer.isSpace(src[j]) { j += 1 }
                    let endSign: Unicode.Scalar? = j < src.count && (src[j] == "-" || src[j] == "+") ? src[j] : nil
                    if endSign != nil { j += 1 }
                    if starts("%}", at: j) {
                        at = bodyStart
                        emitText(Array(src[bodyStart..<i]), sign: sign, isBlockOrComment: true)
                        at = j + 2
                        finishTag(sign: endSign, trim: true)
                        return
                    }
                }
            }
            i += 1
        }
        throw error("missing end of raw directive", at: start)
    }

    /// After a tag's closing characters: `-` strips all following whitespace, trim_blocks drops one newline.
    private mutating func finishTag(sign: Unicode.Scalar?, trim: Bool) {
        var consumedNewline = false
        if sign == "-" {
            while at < src.count, Lexer.isSpace(src[at]) { consumedNewline = src[at] == "\n"; at += 1 }
        } else if trim && sign != "+", at < src.count, src[at] == "\n" {
            at += 1
            consumedNewline = true
        }
        lineStarting = consumedNewline
    }

    private mutating func skipComment(start: Int) throws {
        while at + 1 < src.count {
            if src[at] == "-" && src[at + 1] == "#" && at + 2 < src.count && src[at + 2] == "}" {
                at += 3
                finishTag(sign: "-", trim: true)
                return
            }
            if src[at] == "#" && src[at + 1] == "}" {
                let plus = at > 0 && src[at - 1] == "+"
                at += 2
                finishTag(sign: plus ? "+" : nil, trim: true)
                return
            }
            at += 1
        }
        throw error("missing end of comment tag", at: start)
    }

    // MARK: - Expressions inside {{ }} and {% %}

    /// Reads tokens up to the tag's end (`}}` for `end == "}"`, `%}` for `end == "%"`); an end marker
    /// inside brackets is an operator, as in Jinja2.
    private mutating func readExpression(end: Unicode.Scalar, start: Int) throws {
        var brackets: [Unicode.Scalar] = []
        while true {
            guard at < src.count else {
                throw error(end == "%" ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'", at: start)
            }
            let c = src[at]
            if brackets.isEmpty {
                // `-%}` / `+%}` / `%}` (and `-}}` / `}}`).
                var j = at
                var sign: Unicode.Scalar?
                if c == "-" || (c == "+" && end == "%") { sign = c; j += 1 }
                if j + 1 < src.count, src[j] == end, src[j + 1] == "}" {
                    tokens.append(Token(kind: end == "%" ? .blockEnd : .variableEnd, position: position(at)))
                    at = j + 2
                    finishTag(sign: sign, trim: end == "%")
                    return
                }
            }
            if Lexer.isSpace(c) || c == "\r" { at += 1; continue }
            let tokenStart = at
            let pos = position(at)
            if c == "\"" || c == "'" {
                tokens.append(Token(kind: .string(try readString(quote: c)), position: pos))
            } else if c.properties.numericType == .decimal && c.isASCII {
                tokens.append(Token(kind: try readNumber(), position: pos))
            } else if c == "_" || c.properties.isAlphabetic {
                var name = String.UnicodeScalarView()
                while let s = peek(), s == "_" || s.properties.isAlphabetic || (s.isASCII && s.properties.numericType == .decimal) {
                    name.append(s)
                    at += 1
                }
                tokens.append(Token(kind: .name(String(name)), position: pos))
            } else {
                let two = at + 1 < src.count ? String(String.UnicodeScalarView([c, src[at + 1]])) : ""
                let op: String
                if ["//", "**", "==", "!=", ">=", "<="].contains(two) {
                    op = two
                } else if "+-/*%~[](){}><=.:|,;".unicodeScalars.contains(c) {
                    op = String(c)
                } else {
                    throw error("unexpected char '\(String(c))'", at: tokenStart)
                }
                at += op.unicodeScalars.count
                switch op {
                case "(", "[", "{": brackets.append(c)
                case ")", "]", "}":
                    let expected: Unicode.Scalar = op == ")" ? "(" : op == "]" ? "[" : "{"
                    guard brackets.last == expected else {
                        throw error(brackets.isEmpty ? "unexpected '\(op)'" : "unexpected '\(op)', expected '\(Lexer.closer(brackets.last!))'", at: tokenStart)
                    }
                    brackets.removeLast()
                default: break
                }
                tokens.append(Token(kind: .op(op), position: pos))
            }
        }
    }

    private static func closer(_ s: Unicode.Scalar) -> String { s == "(" ? ")" : s == "[" ? "]" : "}" }

    /// A quoted string with Python's escapes (\n \t \\ \' \" \xHH \uHHHH \UHHHHHHHH, octal); an unknown
    /// escape keeps its backslash, as Python's unicode-escape does.
    private mutating func readString(quote: Unicode.Scalar) throws -> String {
        let start = at
        at += 1
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek() else { throw error("unterminated string", at: start) }
            at += 1
            if c == quote { return String(out) }
            guard c == "\\" else { out.append(c); continue }
            guard let e = peek() else { throw error("unterminated string", at: start) }
            at += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\", "'", "\"": out.append(e)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": break
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard at + width <= src.count,
                      let v = UInt32(String(String.UnicodeScalarView(src[at..<(at + width)])), radix: 16),
                      let scalar = Unicode.Scalar(v) else { throw error("invalid \\\(String(e)) escape in string", at: at - 2) }
                out.append(scalar)
                at += width
            case "0"..."7":
                var v = e.value - 48
                var n = 1
                while n < 3, let d = peek(), ("0"..."7").contains(d) { v = v * 8 + d.value - 48; at += 1; n += 1 }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default:
                out.append("\\")
                out.append(e)
            }
        }
    }

    /// Integers (with `_` separators, 0x/0o/0b) and floats (`1.5`, `1e3`, `1.5e-3`; never `1.`).
    private mutating func readNumber() throws -> TokenKind {
        let start = at
        func digits(_ allowed: (Unicode.Scalar) -> Bool) -> String {
            var s = ""
            while let c = peek(), allowed(c) || (c == "_" && at + 1 < src.count && allowed(src[at + 1]) && !s.isEmpty) {
                if c != "_" { s.unicodeScalars.append(c) }
                at += 1
            }
            return s
        }
        let isDigit: (Unicode.Scalar) -> Bool = { $0.isASCII && $0.properties.numericType == .decimal }
        if peek() == "0", let p = peek(1), "xXoObB".unicodeScalars.contains(p) {
            at += 2
            let radix = "xX".unicodeScalars.contains(p) ? 16 : "oO".unicodeScalars.contains(p) ? 8 : 2
            let text = digits { $0.isASCII && $0.properties.isASCIIHexDigit && Int(String($0), radix: radix) != nil }
            guard let v = Int(text, radix: radix) else { throw error("invalid integer literal", at: start) }
            return .integer(v)
        }
        var text = digits(isDigit)
        var isFloat = false
        if peek() == ".", let next = peek(1), isDigit(next) {
            at += 1
            text += "." + digits(isDigit)
            isFloat = true
        }
        if let e = peek(), e == "e" || e == "E" {
            var j = at + 1
            if j < src.count, src[j] == "+" || src[j] == "-" { j += 1 }
            if j < src.count, isDigit(src[j]) {
                let sign = src[at + 1] == "-" ? "-" : ""
                at = j
                text += "e" + sign + digits(isDigit)
                isFloat = true
            }
        }
        if isFloat {
            guard let d = Double(text) else { throw error("invalid float literal", at: start) }
            return .float(d)
        }
        guard let v = Int(text) else { throw error("integer literal too large", at: start) }
        return .integer(v)
    }
}

extension Unicode.Scalar {
    fileprivate var isASCII: Bool { value < 0x80 }
}
