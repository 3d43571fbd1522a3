/// Pythonic calls, `[get_weather(city="Paris", days=3), other()]` (LFM2) and `name.call(query="x")` (Llama 3.1
/// built-in tools): keyword arguments whose values are Python literals (strings in either quote, numbers,
/// True / False / None, lists, tuples, dicts), converted to JSON.
enum PythonCalls {
    /// A list of calls in brackets, or calls separated by commas without brackets; nil unless all of it reads.
    static func calls(fromList text: String) -> [ToolCall]? {
        var reader = PythonReader(Array(text.unicodeScalars))
        reader.skipSpace()
        let bracketed = reader.take("[")
        var calls: [ToolCall] = []
        while true {
            reader.skipSpace()
            if bracketed, reader.take("]") { break }
            if !bracketed, reader.atEnd { break }
            guard let call = reader.call() else { return nil }
            calls.append(call)
            reader.skipSpace()
            if reader.take(",") { continue }
            if bracketed { guard reader.take("]") else { return nil } }
            break
        }
        reader.skipSpace()
        return reader.atEnd && !calls.isEmpty ? calls : nil
    }
}

private struct PythonReader {
    let scalars: [Unicode.Scalar]
    var position = 0
    static let maxDepth = 256

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { position >= scalars.count }
    var current: Unicode.Scalar? { atEnd ? nil : scalars[position] }

    mutating func skipSpace() { while let c = current, c.properties.isWhitespace { position += 1 } }

    mutating func take(_ literal: String) -> Bool {
        let l = Array(literal.unicodeScalars)
        guard position + l.count <= scalars.count, Array(scalars[position..<position + l.count]) == l else { return false }
        position += l.count
        return true
    }

    mutating func identifier() -> String? {
        let start = position
        while let c = current, c == "_" || c == "." || c == "-" || c.properties.isAlphabetic || ("0"..."9").contains(c) { position += 1 }
        return position > start ? String(String.UnicodeScalarView(scalars[start..<position])) : nil
    }

    /// `name(key=value, …)`; a trailing `.call` (Llama's built-in tools) is not part of the name.
    mutating func call() -> ToolCall? {
        guard var name = identifier() else { return nil }
        if name.hasSuffix(".call") { name.removeLast(".call".count) }
        skipSpace()
        guard !name.isEmpty, take("(") else { return nil }
        var members: [(key: String, value: JSONValue)] = []
        while true {
            skipSpace()
            if take(")") { break }
            guard let key = identifier() else { return nil }
            skipSpace()
            guard take("=") else { return nil }
            guard let value = value(depth: 0) else { return nil }
            members.append((key, value))
            skipSpace()
            if take(",") { continue }
            guard take(")") else { return nil }
            break
        }
        return ToolCall(name: name, arguments: JSONValue.object(members).compactText)
    }

    mutating func value(depth: Int) -> JSONValue? {
        guard depth < PythonReader.maxDepth else { return nil }
        skipSpace()
        guard let c = current else { return nil }
        switch c {
        case "\"", "'": return string().map(JSONValue.string)
        case "[", "(":
            position += 1
            let close: String = c == "[" ? "]" : ")"
            var items: [JSONValue] = []
            while true {
                skipSpace()
                if take(close) { return .array(items) }
                guard let item = value(depth: depth + 1) else { return nil }
                items.append(item)
                skipSpace()
                if take(",") { continue }
                return take(close) ? .array(items) : nil
            }
        case "{":
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            while true {
                skipSpace()
                if take("}") { return .object(members) }
                guard case .string(let key)? = value(depth: depth + 1) else { return nil }
                skipSpace()
                guard take(":"), let member = value(depth: depth + 1) else { return nil }
                members.append((key, member))
                skipSpace()
                if take(",") { continue }
                return take("}") ? .object(members) : nil
            }
        default:
            if take("True") { return .bool(true) }
            if take("False") { return .bool(false) }
            if take("None") { return .null }
            return number()
        }
    }

    /// A number in JSON's grammar (Python's `1.`, `.5`, `1_000` and hex are not accepted).
    mutating func number() -> JSONValue? {
        let start = position
        while let c = current, "-+.eE0123456789".unicodeScalars.contains(c) { position += 1 }
        let text = String(String.UnicodeScalarView(scalars[start..<position]))
        guard !text.isEmpty, case .number? = JSONValue.parse(text) else { return nil }
        return .number(text)
    }

    mutating func string() -> String? {
        guard let quote = current else { return nil }
        position += 1
        var out = String.UnicodeScalarView()
        while let c = current {
            position += 1
            if c == quote { return String(out) }
            guard c == "\\" else { out.append(c); continue }
            guard let e = current else { return nil }
            position += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "u":
                guard position + 4 <= scalars.count,
                      let v = UInt32(String(String.UnicodeScalarView(scalars[position..<position + 4])), radix: 16),
                      let scalar = Unicode.Scalar(v) else { return nil }
                position += 4
                out.append(scalar)
            default: out.append(e)   // \\ \' \" and anything else: the character itself
            }
        }
        return nil
    }
}
