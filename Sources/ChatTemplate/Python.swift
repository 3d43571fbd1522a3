import Foundation

// Python's str(), repr(), ==, < and `in` over template values: what {{ x }} prints and how comparisons behave.

extension JinjaValue {
    /// Python's str(): what `{{ x }}`, `~` and `|string` produce. Undefined prints as "".
    public var pythonString: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// Python's repr(), used inside containers: ['a', 1, None, {'k': True}].
    public var pythonRepr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return pythonFloatRepr(d)
        case .string(let s): return pythonStringRepr(s)
        case .array(let a): return "[" + a.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .tuple(let a): return a.count == 1 ? "(\(a[0].pythonRepr),)" : "(" + a.map(\.pythonRepr).joined(separator: ", ") + ")"
        case .object(let o): return "{" + o.pairs.map { "\($0.pythonRepr): \($1.pythonRepr)" }.joined(separator: ", ") + "}"
        case .namespace(let n): return "<Namespace \(JinjaValue.object(n.attributes).pythonRepr)>"
        case .callable(let f): return f.isMacro ? "<Macro '\(f.name)'>" : "<function \(f.name)>"
        }
    }
}

/// Python's float repr: shortest round-trip digits, "1e+16" from 1e16 on, "1e-05" below 1e-4. Swift's
/// description follows the same rules (checked against CPython), except for the names of the specials.
func pythonFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    return d.description
}

/// Python's repr of a str: single quotes unless the text has ' and no ", escapes for \\, the quote,
/// \n \r \t, other control and non-printable characters as \xNN / \uNNNN / \UNNNNNNNN.
func pythonStringRepr(_ s: String) -> String {
    let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(scalar) == quote {
                out += "\\" + String(quote)
            } else if isPythonPrintable(scalar) {
                out.unicodeScalars.append(scalar)
            } else if scalar.value < 0x100 {
                out += "\\x" + hex(scalar.value, 2)
            } else if scalar.value < 0x10000 {
                out += "\\u" + hex(scalar.value, 4)
            } else {
                out += "\\U" + hex(scalar.value, 8)
            }
        }
    }
    out.append(quote)
    return out
}

/// A name or value from the template's data inside an error message: Python's repr (so one line), cut
/// to 100 characters.
func quotedForMessage(_ s: String) -> String { quotedForMessage(.string(s)) }
func quotedForMessage(_ v: JinjaValue) -> String {
    let r = v.pythonRepr
    return r.unicodeScalars.count > 100 ? String(String.UnicodeScalarView(r.unicodeScalars.prefix(100))) + "…" : r
}

func hex(_ v: UInt32, _ width: Int) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - h.count)) + h
}

/// str.isprintable() for one character: everything but the "Other" and "Separator" categories, space excepted.
private func isPythonPrintable(_ s: Unicode.Scalar) -> Bool {
    if s == " " { return true }
    switch s.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
        return false
    default:
        return true
    }
}

// MARK: - Comparison

/// Python's ==: numbers by value across int/float/bool, strings by code point, containers elementwise;
/// Undefined equals only Undefined; namespaces and callables by identity.
func pythonEqual(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
    switch (a, b) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
    case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { pythonEqual($0, $1) }
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        for (k, v) in x.pairs {
            guard let w = try? y.get(k), pythonEqual(v, w) else { return false }
        }
        return true
    case (.namespace(let x), .namespace(let y)): return x === y
    case (.callable(let x), .callable(let y)): return x === y
    default:
        if let x = a.asInt, let y = b.asInt { return x == y }
        if a.isNumber && b.isNumber, let x = a.asDouble, let y = b.asDouble { return x == y }
        return false
    }
}

/// Python's <, <=, >, >= ordering: numbers, strings by code point, lists and tuples lexicographically;
/// anything else is a TypeError.
func pythonCompare(_ a: JinjaValue, _ b: JinjaValue, _ op: String) throws -> Int {
    switch (a, b) {
    case (.string(let x), .string(let y)):
        return compareScalars(x, y)
    case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
        for (p, q) in zip(x, y) where !pythonEqual(p, q) { return try pythonCompare(p, q, op) }
        return x.count < y.count ? -1 : (x.count > y.count ? 1 : 0)
    default:
        if let x = a.asInt, let y = b.asInt { return x < y ? -1 : (x > y ? 1 : 0) }
        if a.isNumber && b.isNumber, let x = a.asDouble, let y = b.asDouble { return x < y ? -1 : (x > y ? 1 : 0) }
        throw TemplateError.type("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
    }
}

func compareScalars(_ x: String, _ y: String) -> Int {
    var i = x.unicodeScalars.makeIterator(), j = y.unicodeScalars.makeIterator()
    while true {
        switch (i.next(), j.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case (let p?, let q?): if p != q { return p.value < q.value ? -1 : 1 }
        }
    }
}

/// Python's `needle in haystack`.
func pythonContains(_ haystack: JinjaValue, _ needle: JinjaValue) throws -> Bool {
    switch haystack {
    case .undefined: return false
    case .string(let s):
        guard case .string(let n) = needle else {
            throw TemplateError.type("'in <string>' requires string as left operand, not \(needle.typeName)")
        }
        return scalarFind(Array(s.unicodeScalars), Array(n.unicodeScalars), from: 0) != nil
    case .array(let a), .tuple(let a): return a.contains { pythonEqual($0, needle) }
    case .object(let o): return try o.get(needle) != nil
    case .namespace(let n): return (try? n.attributes.get(needle)) != nil
    default: throw TemplateError.type("argument of type '\(haystack.typeName)' is not iterable")
    }
}

/// Index of the first occurrence of `needle` in `hay` at or after `from`.
func scalarFind(_ hay: [Unicode.Scalar], _ needle: [Unicode.Scalar], from: Int) -> Int? {
    if needle.isEmpty { return from <= hay.count ? from : nil }
    guard hay.count >= needle.count else { return nil }
    var i = max(0, from)
    while i + needle.count <= hay.count {
        if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}
