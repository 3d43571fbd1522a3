import Foundation

// Python methods a template calls on values: "a,b".split(","), d.get("k"), d.items(), l.index(x).
// Methods that mutate a list or dict are refused the way Jinja2's ImmutableSandboxedEnvironment refuses
// them: the attribute is an Undefined that raises SecurityError when called.

private let unsafeListMethods: Set<String> = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "__setitem__", "__delitem__"]
private let unsafeDictMethods: Set<String> = ["clear", "pop", "popitem", "setdefault", "update", "__setitem__", "__delitem__"]

extension Evaluator {
    /// The method `name` of `obj` bound to it, a SecurityError-raising Undefined for a mutating one, or nil.
    func boundMethod(_ obj: JinjaValue, _ name: String) throws -> JinjaValue? {
        func method(_ body: @escaping (CallArguments) throws -> JinjaValue) -> JinjaValue {
            .callable(JinjaCallable("\(obj.typeName).\(name)") { args, _ in try body(args) })
        }
        switch obj {
        case .string(let s):
            guard let f = stringMethod(s, name) else { return nil }
            return method(f)
        case .object(let o):
            if unsafeDictMethods.contains(name) { return unsafe(obj, name) }
            switch name {
            case "get":
                return method { args in
                    try args.check("get", ["key", "default"])
                    guard let key = args.value(0, "key") else { throw TemplateError.type("get expected at least 1 argument, got 0") }
                    return try o.get(key) ?? args.value(1, "default") ?? .none
                }
            case "items": return method { _ in .array(o.pairs.map { .tuple([$0, $1]) }) }
            case "keys": return method { _ in .array(o.keys) }
            case "values": return method { _ in .array(o.values) }
            case "copy": return method { _ in obj }
            default: return nil
            }
        case .array(let items), .tuple(let items):
            if case .array = obj, unsafeListMethods.contains(name) { return unsafe(obj, name) }
            switch name {
            case "index":
                return method { args in
                    guard let x = args.positional.first else { throw TemplateError.type("index expected 1 argument") }
                    guard let i = items.firstIndex(where: { pythonEqual($0, x) }) else {
                        throw TemplateError.runtime("ValueError: \(quotedForMessage(x)) is not in list")
                    }
                    return .int(i)
                }
            case "count":
                return method { args in
                    guard let x = args.positional.first else { throw TemplateError.type("count expected 1 argument") }
                    return .int(items.filter { pythonEqual($0, x) }.count)
                }
            case "copy": return method { _ in obj }
            default: return nil
            }
        default:
            return nil
        }
    }

    private func unsafe(_ obj: JinjaValue, _ name: String) -> JinjaValue {
        .undefined(hint: "access to attribute '\(name)' of '\(obj.typeName)' object is unsafe.", security: true)
    }

    private func stringMethod(_ s: String, _ name: String) -> ((CallArguments) throws -> JinjaValue)? {
        func stringArgument(_ args: CallArguments, _ i: Int, _ n: String) throws -> String? {
            guard let v = args.value(i, n), !v.isNone else { return nil }
            guard case .string(let t) = v else { throw TemplateError.type("\(name)() argument must be str or None, not \(v.typeName)") }
            return t
        }
        switch name {
        case "upper": return { _ in .string(s.uppercased()) }
        case "lower": return { _ in .string(s.lowercased()) }
        case "title": return { _ in .string(pythonTitle(s)) }
        case "capitalize": return { _ in .string(pythonCapitalize(s)) }
        case "swapcase":
            return { _ in .string(String(String.UnicodeScalarView(s.unicodeScalars.flatMap { c -> [Unicode.Scalar] in
                let t = String(c)
                return Array((c.properties.isUppercase ? t.lowercased() : c.properties.isLowercase ? t.uppercased() : t).unicodeScalars)
            }))) }
        case "strip", "lstrip", "rstrip":
            return { args in
                try args.check(name, ["chars"])
                return .string(pythonStrip(s, chars: try stringArgument(args, 0, "chars"), left: name != "rstrip", right: name != "lstrip"))
            }
        case "split", "rsplit":
            return { args in
                try args.check(name, ["sep", "maxsplit"])
                let maxsplit = args.value(1, "maxsplit")?.asInt ?? -1
                let parts = try pythonSplit(s, separator: try stringArgument(args, 0, "sep"), maxsplit: maxsplit, fromRight: name == "rsplit")
                return .array(parts.map { .string($0) })
            }
        case "splitlines": return { _ in .array(pythonSplitLines(s).map { .string($0) }) }
        case "startswith", "endswith":
            return { args in
                guard let p = args.positional.first else { throw TemplateError.type("\(name)() takes at least 1 argument (0 given)") }
                let candidates: [JinjaValue]
                if case .tuple(let t) = p { candidates = t } else { candidates = [p] }
                var scalars = Array(s.unicodeScalars)
                if args.positional.count > 1 {
                    let n = scalars.count
                    func index(_ v: JinjaValue?, _ d: Int) -> Int {
                        guard let i = v?.asInt else { return d }
                        return min(max(i < 0 ? i + n : i, 0), n)
                    }
                    let a = index(args.positional[1], 0), b = index(args.positional.count > 2 ? args.positional[2] : nil, n)
                    scalars = a <= b ? Array(scalars[a..<b]) : []
                }
                for c in candidates {
                    guard case .string(let t) = c else {
                        throw TemplateError.type("\(name) first arg must be str or a tuple of str, not \(c.typeName)")
                    }
                    let u = Array(t.unicodeScalars)
                    if u.count <= scalars.count && (name == "startswith" ? scalars.prefix(u.count).elementsEqual(u) : scalars.suffix(u.count).elementsEqual(u)) {
                        return .bool(true)
                    }
                }
                return .bool(false)
            }
        case "replace":
            return { [unowned self] args in
                guard args.positional.count >= 2, case .string(let old) = args.positional[0], case .string(let new) = args.positional[1] else {
                    throw TemplateError.type("replace() takes two str arguments")
                }
                let count = args.positional.count > 2 ? args.positional[2].asInt ?? -1 : -1
                return .string(try pythonReplace(s, old, new, count: count, limit: self))
            }
        case "find", "rfind", "index", "rindex", "count":
            return { args in
                guard case .string(let sub)? = args.positional.first else { throw TemplateError.type("\(name)() argument must be str") }
                let hay = Array(s.unicodeScalars), needle = Array(sub.unicodeScalars)
                if name == "count" {
                    if needle.isEmpty { return .int(hay.count + 1) }
                    var n = 0, i = 0
                    while let j = scalarFind(hay, needle, from: i) { n += 1; i = j + needle.count }
                    return .int(n)
                }
                var found: Int?
                if name.hasPrefix("r") {
                    var i = 0
                    while let j = scalarFind(hay, needle, from: i) { found = j; i = j + 1; if needle.isEmpty && j >= hay.count { break } }
                } else {
                    found = scalarFind(hay, needle, from: max(0, args.positional.count > 1 ? args.positional[1].asInt ?? 0 : 0))
                }
                if let found { return .int(found) }
                if name.contains("index") { throw TemplateError.runtime("ValueError: substring not found") }
                return .int(-1)
            }
        case "join":
            return { [unowned self] args in
                guard let v = args.positional.first else { throw TemplateError.type("join() takes exactly one argument") }
                let parts = try self.iterate(v).map { item -> String in
                    guard case .string(let t) = item else { throw TemplateError.type("sequence item: expected str instance, \(item.typeName) found") }
                    return t
                }
                let r = parts.joined(separator: s)
                try self.checkSize(r.utf8.count)
                return .string(r)
            }
        case "format":
            return { args in .string(try pythonFormat(s, args)) }
        case "isdigit", "isnumeric", "isdecimal":
            return { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
        case "isalpha": return { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) }
        case "isalnum": return { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil }) }
        case "isspace": return { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isWhitespace }) }
        case "isupper": return { _ in .bool(s.unicodeScalars.contains { $0.properties.isCased } && s == s.uppercased()) }
        case "islower": return { _ in .bool(s.unicodeScalars.contains { $0.properties.isCased } && s == s.lowercased()) }
        default: return nil
        }
    }
}

// MARK: - Python string operations, by Unicode scalar

func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
    c.properties.isWhitespace || (c.value >= 0x1C && c.value <= 0x1F)
}

func pythonStrip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
    let set = chars.map { Set($0.unicodeScalars) }
    let strip: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? isPythonSpace(c) }
    let scalars = Array(s.unicodeScalars)
    var a = 0, b = scalars.count
    if left { while a < b && strip(scalars[a]) { a += 1 } }
    if right { while b > a && strip(scalars[b - 1]) { b -= 1 } }
    return String(String.UnicodeScalarView(scalars[a..<b]))
}

func pythonSplit(_ s: String, separator: String?, maxsplit: Int, fromRight: Bool) throws -> [String] {
    var scalars = Array(s.unicodeScalars)
    if fromRight { scalars.reverse() }
    var parts: [[Unicode.Scalar]] = []
    if let separator {
        var sep = Array(separator.unicodeScalars)
        if sep.isEmpty { throw TemplateError.runtime("ValueError: empty separator") }
        if fromRight { sep.reverse() }
        var start = 0
        while maxsplit < 0 || parts.count < maxsplit, let j = scalarFind(scalars, sep, from: start) {
            parts.append(Array(scalars[start..<j]))
            start = j + sep.count
        }
        parts.append(Array(scalars[start...]))
    } else {
        // Runs of whitespace separate; no empty strings at either end.
        var i = 0
        while i < scalars.count {
            while i < scalars.count && isPythonSpace(scalars[i]) { i += 1 }
            if i == scalars.count { break }
            if maxsplit >= 0 && parts.count == maxsplit {
                parts.append(Array(scalars[i...]))  // the rest keeps its trailing whitespace, as in Python
                break
            }
            let start = i
            while i < scalars.count && !isPythonSpace(scalars[i]) { i += 1 }
            parts.append(Array(scalars[start..<i]))
        }
    }
    if fromRight { parts = parts.reversed().map { $0.reversed() } }
    return parts.map { String(String.UnicodeScalarView($0)) }
}

func pythonReplace(_ s: String, _ old: String, _ new: String, count: Int, limit: Evaluator) throws -> String {
    let hay = Array(s.unicodeScalars), o = Array(old.unicodeScalars), n = Array(new.unicodeScalars)
    var out: [Unicode.Scalar] = []
    var done = 0
    if o.isEmpty {
        // Python inserts `new` before every character and at the end.
        for c in hay {
            if count < 0 || done < count { out += n; done += 1 }
            out.append(c)
        }
        if count < 0 || done < count { out += n }
    } else {
        var i = 0
        while count < 0 || done < count, let j = scalarFind(hay, o, from: i) {
            out += hay[i..<j]
            out += n
            i = j + o.count
            done += 1
            try limit.checkSize(out.count)
        }
        out += hay[i...]
    }
    try limit.checkSize(out.count)
    return String(String.UnicodeScalarView(out))
}

/// str.title(): a cased letter after an uncased character is uppercased, other cased letters lowercased.
func pythonTitle(_ s: String) -> String {
    var out = ""
    var previousCased = false
    for c in s.unicodeScalars {
        let t = String(c)
        out += c.properties.isCased ? (previousCased ? t.lowercased() : t.uppercased()) : t
        previousCased = c.properties.isCased
    }
    return out
}

func pythonCapitalize(_ s: String) -> String {
    guard let first = s.unicodeScalars.first else { return s }
    return String(first).uppercased() + String(String.UnicodeScalarView(s.unicodeScalars.dropFirst())).lowercased()
}

/// str.format with `{}`, `{0}`, `{name}` and `{{`/`}}`; format specs and conversions are not supported.
func pythonFormat(_ s: String, _ args: CallArguments) throws -> String {
    var out = ""
    var auto = 0
    var chars = Array(s.unicodeScalars)[...]
    while let c = chars.popFirst() {
        if c == "{" {
            if chars.first == "{" { chars.removeFirst(); out += "{"; continue }
            var field = ""
            while let d = chars.popFirst(), d != "}" { field.unicodeScalars.append(d) }
            let value: JinjaValue?
            if field.isEmpty { value = auto < args.positional.count ? args.positional[auto] : nil; auto += 1 }
            else if let i = Int(field) { value = i < args.positional.count ? args.positional[i] : nil }
            else { value = args.keyword.first(where: { $0.0 == field })?.1 }
            guard let value else { throw TemplateError.runtime("IndexError: format field \(quotedForMessage(field)) has no value") }
            out += value.pythonString
        } else if c == "}" {
            if chars.first == "}" { chars.removeFirst() }
            out += "}"
        } else {
            out.unicodeScalars.append(c)
        }
    }
    return out
}
