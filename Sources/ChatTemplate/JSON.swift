import Foundation

// JSON in and out. In: an order-preserving parser (Foundation's JSONSerialization loses key order on Linux,
// and a chat template's tool schemas print in their file's order). Out: Python's json.dumps, which
// transformers' `tojson` filter is — ensure_ascii=False, separators (", ", ": "), no HTML escaping.

extension JinjaValue {
    /// Parses JSON text keeping object key order; integers without fraction or exponent become int.
    public static func parseJSON(_ text: String) throws -> JinjaValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.at == parser.bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    public init(jsonData: Data) throws {
        self = try JinjaValue.parseJSON(String(decoding: jsonData, as: UTF8.self))
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var at = 0

    func error(_ message: String) -> TemplateError {
        // Line and column of the failure, for a context file given to `moe template`.
        var line = 1, column = 1
        for b in bytes[..<min(at, bytes.count)] {
            if b == 0x0A { line += 1; column = 1 } else { column += 1 }
        }
        return TemplateError(.syntax, "invalid JSON: " + message, line: line, column: column)
    }

    mutating func skipSpace() {
        while at < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[at]) { at += 1 }
    }

    mutating func value(depth: Int) throws -> JinjaValue {
        guard depth < JinjaValue.maxNesting else { throw error("nested deeper than \(JinjaValue.maxNesting) levels") }
        guard at < bytes.count else { throw error("unexpected end") }
        switch bytes[at] {
        case UInt8(ascii: "{"):
            at += 1
            var object = JinjaObject()
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(object) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw error("expected ':'") }
                at += 1
                skipSpace()
                try object.set(.string(key), try value(depth: depth + 1))
                skipSpace()
                guard at < bytes.count else { throw error("unexpected end") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(object) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            at += 1
            var items: [JinjaValue] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard at < bytes.count else { throw error("unexpected end") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try word("true", .bool(true))
        case UInt8(ascii: "f"): return try word("false", .bool(false))
        case UInt8(ascii: "n"): return try word("null", .none)
        default: return try number()
        }
    }

    mutating func word(_ w: String, _ v: JinjaValue) throws -> JinjaValue {
        let u = Array(w.utf8)
        guard at + u.count <= bytes.count, Array(bytes[at..<(at + u.count)]) == u else { throw error("unexpected character") }
        at += u.count
        return v
    }

    mutating func number() throws -> JinjaValue {
        let start = at
        var isFloat = false
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
        let digitsStart = at
        while at < bytes.count {
            let b = bytes[at]
            if b >= 0x30 && b <= 0x39 { at += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                || ((b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && at > digitsStart) {
                isFloat = true
                at += 1
                continue
            }
            break
        }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        guard at > digitsStart, let first = bytes[digitsStart...].first, first >= 0x30 && first <= 0x39 else {
            throw error("unexpected character")
        }
        if !isFloat, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw error("bad number '\(text)'") }
        return .double(d)
    }

    mutating func string() throws -> String {
        at += 1  // opening quote
        var out = [UInt8]()
        while true {
            guard at < bytes.count else { throw error("unterminated string") }
            let b = bytes[at]
            at += 1
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { throw error("control character in string") }
            if b != UInt8(ascii: "\\") { out.append(b); continue }
            guard at < bytes.count else { throw error("unterminated string") }
            let e = bytes[at]
            at += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800 && code < 0xDC00, at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") {
                    let save = at
                    at += 2
                    let low = try hex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        at = save
                    }
                }
                // A lone surrogate cannot be a Swift String; it becomes U+FFFD.
                out.append(contentsOf: Array(String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8))
            default: throw error("bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws -> UInt32 {
        guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16) else {
            throw error("bad \\u escape")
        }
        at += 4
        return v
    }
}

// MARK: - Python's json.dumps

struct JSONDumpOptions {
    var ensureASCII = false
    /// nil: one line; otherwise the string one level of nesting is indented by.
    var indent: String?
    var itemSeparator: String?
    var keySeparator = ": "
    var sortKeys = false
}

func pythonJSONDumps(_ value: JinjaValue, _ options: JSONDumpOptions) throws -> String {
    var out = ""
    let itemSeparator = options.itemSeparator ?? (options.indent == nil ? ", " : ",")
    try dump(value, options, itemSeparator, level: 0, into: &out)
    return out
}

private func dump(_ value: JinjaValue, _ o: JSONDumpOptions, _ sep: String, level: Int, into out: inout String) throws {
    guard level <= JinjaValue.maxNesting + 1 else { throw TemplateError.runtime("ValueError: tojson: nested too deeply") }
    func newline(_ l: Int) {
        if let indent = o.indent { out += "\n" + String(repeating: indent, count: l) }
    }
    switch value {
    case .none: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .double(let d):
        out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : pythonFloatRepr(d)
    case .string(let s): out += jsonQuote(s, ascii: o.ensureASCII)
    case .array(let items), .tuple(let items):
        if items.isEmpty { out += "[]"; return }
        out += "["
        for (i, item) in items.enumerated() {
            if i > 0 { out += sep }
            newline(level + 1)
            try dump(item, o, sep, level: level + 1, into: &out)
        }
        newline(level)
        out += "]"
    case .object(let object):
        if object.isEmpty { out += "{}"; return }
        var pairs = try object.pairs.map { (try jsonKey($0), $1) }
        if o.sortKeys { pairs.sort { compareScalars($0.0, $1.0) < 0 } }
        out += "{"
        for (i, (k, v)) in pairs.enumerated() {
            if i > 0 { out += sep }
            newline(level + 1)
            out += jsonQuote(k, ascii: o.ensureASCII) + o.keySeparator
            try dump(v, o, sep, level: level + 1, into: &out)
        }
        newline(level)
        out += "}"
    default:
        throw TemplateError.type("Object of type \(value.typeName) is not JSON serializable")
    }
}

/// json.dumps turns int, float, bool and None keys into strings; other keys are a TypeError.
private func jsonKey(_ k: JinjaValue) throws -> String {
    switch k {
    case .string(let s): return s
    case .int(let i): return String(i)
    case .double(let d): return pythonFloatRepr(d)
    case .bool(let b): return b ? "true" : "false"
    case .none: return "null"
    default: throw TemplateError.type("keys must be str, int, float, bool or None, not \(k.typeName)")
    }
}

func jsonQuote(_ s: String, ascii: Bool) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        default:
            if scalar.value < 0x20 || (ascii && scalar.value > 0x7E) {
                if scalar.value >= 0x10000 {
                    let v = scalar.value - 0x10000
                    out += "\\u" + hex(0xD800 + (v >> 10), 4) + "\\u" + hex(0xDC00 + (v & 0x3FF), 4)
                } else {
                    out += "\\u" + hex(scalar.value, 4)
                }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
