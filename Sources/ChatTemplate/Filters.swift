import Foundation

// Jinja2's filters as transformers' chat-template environment has them; `tojson` is transformers' own
// (Python json.dumps with ensure_ascii=False and no HTML escaping), not Jinja2's.

let builtinFilterNames: Set<String> = [
    "tojson", "length", "count", "string", "trim", "items", "default", "d", "join", "first", "last", "upper", "lower",
    "title", "capitalize", "replace", "int", "float", "list", "unique", "indent", "dictsort", "sort", "reverse", "abs",
    "round", "min", "max", "sum", "safe", "e", "escape", "forceescape", "map", "select", "reject", "selectattr",
    "rejectattr", "attr", "center", "wordcount", "batch", "slice", "bool",
]

extension Evaluator {
    func applyFilter(_ name: String, _ value: JinjaValue, _ args: CallArguments) throws -> JinjaValue {
        func arg(_ i: Int, _ n: String) -> JinjaValue? { args.value(i, n) }
        func str(_ v: JinjaValue) -> String { v.pythonString }
        switch name {
        case "tojson":
            try args.check("tojson", ["ensure_ascii", "indent", "separators", "sort_keys"])
            var o = JSONDumpOptions()
            o.ensureASCII = arg(0, "ensure_ascii")?.truthy ?? false
            switch arg(1, "indent") {
            case .int(let n)?: o.indent = String(repeating: " ", count: max(0, min(n, 64)))
            case .string(let s)?: o.indent = s
            default: break
            }
            if let sep = arg(2, "separators"), !sep.isNone {
                let parts = try iterate(sep)
                guard parts.count == 2 else { throw TemplateError.runtime("ValueError: separators must be a pair") }
                o.itemSeparator = str(parts[0])
                o.keySeparator = str(parts[1])
            }
            o.sortKeys = arg(3, "sort_keys")?.truthy ?? false
            try failIfUndefined(value)
            let s = try pythonJSONDumps(value, o)
            try checkSize(s.utf8.count)
            return .string(s)
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .array(let a), .tuple(let a): return .int(a.count)
            case .object(let o): return .int(o.count)
            case .undefined: return .int(0)
            default: throw TemplateError.type("object of type '\(value.typeName)' has no len()")
            }
        case "string": return .string(str(value))
        case "safe": return value
        case "bool": return .bool(value.truthy)
        case "trim":
            var chars: String?
            if case .string(let c)? = arg(0, "chars") { chars = c }
            return .string(pythonStrip(str(value), chars: chars, left: true, right: true))
        case "upper": return .string(str(value).uppercased())
        case "lower": return .string(str(value).lowercased())
        case "capitalize": return .string(pythonCapitalize(str(value)))
        case "title": return .string(jinjaTitle(str(value)))
        case "e", "escape", "forceescape":
            var out = ""
            for c in str(value).unicodeScalars {
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.unicodeScalars.append(c)
                }
            }
            return .string(out)
        case "replace":
            guard let old = arg(0, "old"), let new = arg(1, "new") else { throw TemplateError.type("replace needs old and new") }
            return .string(try pythonReplace(str(value), str(old), str(new), count: arg(2, "count")?.asInt ?? -1, limit: self))
        case "items":
            switch value {
            case .undefined: return .array([])
            case .object(let o): return .array(o.pairs.map { .tuple([$0, $1]) })
            default: throw TemplateError.type("Can only get item pairs from a mapping.")
            }
        case "default", "d":
            let fallback = arg(0, "default_value") ?? .string("")
            let boolean = arg(1, "boolean")?.truthy ?? false
            return value.isUndefined || (boolean && !value.truthy) ? fallback : value
        case "join":
            var items = try iterate(value)
            if let a = arg(1, "attribute"), !a.isNone { items = try items.map { try attribute(of: $0, a) } }
            let separator = arg(0, "d").map(str) ?? ""
            let s = items.map(str).joined(separator: separator)
            try checkSize(s.utf8.count)
            return .string(s)
        case "first":
            return try iterate(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            return try iterate(value).last ?? .undefined("No last item, sequence was empty.")
        case "list": return .array(try iterate(value))
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .array(try iterate(value).reversed())
        case "int":
            let fallback = arg(0, "default") ?? .int(0)
            switch value {
            case .int: return value
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : fallback
            case .string(let s):
                let t = pythonStrip(s, chars: nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
                let base = arg(1, "base")?.asInt ?? 10
                if let i = Int(t, radix: base) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = arg(0, "default") ?? .double(0)
            switch value {
            case .int, .bool, .double: return .double(value.asDouble!)
            case .string(let s):
                let t = pythonStrip(s, chars: nil, left: true, right: true).lowercased()
                if let d = Double(t) { return .double(d) }
                return fallback
            default: return fallback
            }
        case "abs":
            switch value {
            case .int(let i): return i == Int.min ? .double(-Double(i)) : .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: try failIfUndefined(value); throw TemplateError.type("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            try failIfUndefined(value)
            guard let x = value.asDouble else { throw TemplateError.type("type \(value.typeName) doesn't define __round__ method") }
            let precision = arg(0, "precision")?.asInt ?? 0
            let method = arg(1, "method").map(str) ?? "common"
            let scale = pow(10.0, Double(max(-300, min(precision, 300))))
            let rule: FloatingPointRoundingRule
            switch method {
            case "common": rule = .toNearestOrEven
            case "ceil": rule = .up
            case "floor": rule = .down
            default: throw TemplateError.runtime("FilterArgumentError: method must be common, ceil or floor")
            }
            let r = (x * scale).rounded(rule) / scale
            return .double(r.isFinite ? r : x)
        case "unique":
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            let key = arg(1, "attribute")
            var seen: [JinjaValue] = []
            var out: [JinjaValue] = []
            for item in try iterate(value) {
                var k = key.map { _ in item } ?? item
                if let key, !key.isNone { k = try attribute(of: item, key) }
                if !caseSensitive, case .string(let s) = k { k = .string(s.lowercased()) }
                if !seen.contains(where: { pythonEqual($0, k) }) {
                    seen.append(k)
                    out.append(item)
                }
            }
            return .array(out)
        case "sort", "dictsort", "min", "max":
            return try sortFilter(name, value, args)
        case "sum":
            var total = arg(1, "start") ?? .int(0)
            for var item in try iterate(value) {
                if let a = arg(0, "attribute"), !a.isNone { item = try attribute(of: item, a) }
                total = try binary("+", total, item)
            }
            return total
        case "indent":
            return .string(try jinjaIndent(str(value), arg(0, "width") ?? .int(4), first: arg(1, "first")?.truthy ?? false,
                                           blank: arg(2, "blank")?.truthy ?? false))
        case "center":
            let width = arg(0, "width")?.asInt ?? 80
            let s = str(value)
            let n = s.unicodeScalars.count
            guard width > n else { return .string(s) }
            try checkSize(width)
            let left = (width - n) / 2 + ((width - n) & width & 1)
            return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: width - n - left))
        case "wordcount":
            return .int(try pythonSplit(str(value), separator: nil, maxsplit: -1, fromRight: false).count)
        case "attr":
            guard let n = arg(0, "name") else { throw TemplateError.type("attr needs a name") }
            // Jinja2's attr looks up attributes only, never dict items.
            if case .namespace = value { return try getAttribute(value, str(n)) }
            if value.isUndefined { try failIfUndefined(value) }
            return try boundMethod(value, str(n)) ?? .undefined("'\(value.typeName) object' has no attribute \(quotedForMessage(str(n)))")
        case "map":
            let items = try iterate(value)
            if let a = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = args.keyword.first(where: { $0.0 == "default" })?.1
                return .array(try items.map { item in
                    let v = try attribute(of: item, a)
                    return v.isUndefined ? (fallback ?? v) : v
                })
            }
            guard let filterName = args.positional.first else { return .array(items) }
            let rest = CallArguments(Array(args.positional.dropFirst()), keyword: args.keyword)
            return .array(try items.map { try applyFilter(str(filterName), $0, rest) })
        case "select", "reject", "selectattr", "rejectattr":
            let byAttribute = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            var positional = args.positional
            var attributeName: JinjaValue?
            if byAttribute {
                guard !positional.isEmpty else { throw TemplateError.type("\(name) needs an attribute") }
                attributeName = positional.removeFirst()
            }
            let testName = positional.isEmpty ? nil : str(positional.removeFirst())
            if let testName, !builtinTestNames.contains(testName) { throw TemplateError.runtime("no test named \(quotedForMessage(testName))") }
            let testArgs = CallArguments(positional, keyword: args.keyword)
            return .array(try iterate(value).filter { item in
                let subject = try attributeName.map { try attribute(of: item, $0) } ?? item
                let passed = try testName.map { try applyTest($0, subject, testArgs) } ?? subject.truthy
                return passed == keep
            })
        case "batch", "slice":
            guard let n = arg(0, name == "batch" ? "linecount" : "slices")?.asInt, n > 0 else { throw TemplateError.runtime("\(name) needs a positive count") }
            let items = try iterate(value)
            if name == "batch" {
                return .array(stride(from: 0, to: items.count, by: n).map { .array(Array(items[$0..<min($0 + n, items.count)])) })
            }
            let per = items.count / n, extra = items.count % n
            var out: [JinjaValue] = [], start = 0
            for i in 0..<min(n, 10_000) {
                let end = start + per + (i < extra ? 1 : 0)
                out.append(.array(Array(items[start..<end])))
                start = end
            }
            return .array(out)
        default:
            throw TemplateError.runtime("no filter named \(quotedForMessage(name))")
        }
    }

    /// `attribute="a.b.0"` of filters: dotted path, integer parts index lists (Jinja2's make_attrgetter).
    func attribute(of item: JinjaValue, _ path: JinjaValue) throws -> JinjaValue {
        if let i = path.asInt { return try getItem(item, .int(i)) }
        var v = item
        for part in path.pythonString.split(separator: ".", omittingEmptySubsequences: false) {
            v = try getItem(v, Int(part).map(JinjaValue.int) ?? .string(String(part)))
        }
        return v
    }

    private func sortFilter(_ name: String, _ value: JinjaValue, _ args: CallArguments) throws -> JinjaValue {
        var reverse = false, caseSensitive = false
        var attributeName: JinjaValue?
        var byValue = false
        switch name {
        case "sort":
            reverse = args.value(0, "reverse")?.truthy ?? false
            caseSensitive = args.value(1, "case_sensitive")?.truthy ?? false
            attributeName = args.value(2, "attribute")
        case "dictsort":
            caseSensitive = args.value(0, "case_sensitive")?.truthy ?? false
            let by = args.value(1, "by")?.pythonString ?? "key"
            guard by == "key" || by == "value" else { throw TemplateError.runtime("FilterArgumentError: You can only sort by either \"key\" or \"value\"") }
            byValue = by == "value"
            reverse = args.value(2, "reverse")?.truthy ?? false
        default:
            caseSensitive = args.value(0, "case_sensitive")?.truthy ?? false
            attributeName = args.value(1, "attribute")
        }
        var items: [JinjaValue]
        if name == "dictsort" {
            guard case .object(let o) = value else { throw TemplateError.type("dictsort needs a mapping") }
            items = o.pairs.map { .tuple([$0, $1]) }
        } else {
            items = try iterate(value)
        }
        func key(_ item: JinjaValue) throws -> JinjaValue {
            var k = item
            if name == "dictsort", case .tuple(let pair) = item { k = pair[byValue ? 1 : 0] }
            if let a = attributeName, !a.isNone { k = try attribute(of: item, a) }
            if !caseSensitive, case .string(let s) = k { k = .string(s.lowercased()) }
            return k
        }
        let keyed = try items.map { (try key($0), $0) }
        if name == "min" || name == "max" {
            guard var best = keyed.first else { return .undefined("No aggregated item, sequence was empty.") }
            for candidate in keyed.dropFirst() {
                let c = try pythonCompare(candidate.0, best.0, "<")
                if name == "min" ? c < 0 : c > 0 { best = candidate }
            }
            return best.1
        }
        // A stable merge sort: Python's sort is stable and a comparison may throw.
        var sorted = keyed
        try mergeSort(&sorted) { a, b in
            let c = try pythonCompare(a.0, b.0, "<")
            return reverse ? c > 0 : c < 0
        }
        return .array(sorted.map(\.1))
    }
}

private func mergeSort<T>(_ a: inout [T], by less: (T, T) throws -> Bool) throws {
    guard a.count > 1 else { return }
    var left = Array(a[..<(a.count / 2)]), right = Array(a[(a.count / 2)...])
    try mergeSort(&left, by: less)
    try mergeSort(&right, by: less)
    var i = 0, j = 0, k = 0
    while i < left.count && j < right.count {
        if try less(right[j], left[i]) { a[k] = right[j]; j += 1 } else { a[k] = left[i]; i += 1 }
        k += 1
    }
    while i < left.count { a[k] = left[i]; i += 1; k += 1 }
    while j < right.count { a[k] = right[j]; j += 1; k += 1 }
}

/// Jinja2's `title` filter: words start after - whitespace ( { [ <; first letter upper, the rest lower.
func jinjaTitle(_ s: String) -> String {
    var out = ""
    var atStart = true
    for c in s.unicodeScalars {
        if c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || isPythonSpace(c) {
            out.unicodeScalars.append(c)
            atStart = true
        } else {
            out += atStart ? String(c).uppercased() : String(c).lowercased()
            atStart = false
        }
    }
    return out
}

/// str.splitlines(): \n, \r\n, \r and the other Unicode line boundaries.
func pythonSplitLines(_ s: String) -> [String] {
    var lines: [String] = []
    var current = String.UnicodeScalarView()
    var previousCR = false
    for c in s.unicodeScalars {
        if previousCR && c == "\n" { previousCR = false; continue }
        previousCR = c == "\r"
        if ["\n", "\r", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1D}", "\u{1E}", "\u{85}", "\u{2028}", "\u{2029}"].contains(c) {
            lines.append(String(current))
            current = String.UnicodeScalarView()
        } else {
            current.append(c)
        }
    }
    if !current.isEmpty { lines.append(String(current)) }
    return lines
}

/// Jinja2 3.x `indent(width=4, first=False, blank=False)`; `width` may be a string used as the indent.
func jinjaIndent(_ text: String, _ width: JinjaValue, first: Bool, blank: Bool) throws -> String {
    let indention: String
    if case .string(let s) = width { indention = s } else { indention = String(repeating: " ", count: max(0, min(width.asInt ?? 4, 1024))) }
    var lines = pythonSplitLines(text + "\n")
    var result: String
    if blank {
        result = lines.joined(separator: "\n" + indention)
    } else {
        result = lines.isEmpty ? "" : lines.removeFirst()
        if !lines.isEmpty {
            result += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
        }
    }
    return first ? indention + result : result
}
