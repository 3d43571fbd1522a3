/// A byte-at-a-time JSON recogniser (RFC 8259) that says whether the bytes so far can still begin a JSON
/// object: the grammar behind `response_format: json_object`. The sampler asks it about each candidate
/// token's bytes (on a copy) and takes the most likely token that keeps the prefix valid; once the object
/// closes, `isComplete` ends the reply. Bytes, not characters: a token may carry part of a UTF-8 character,
/// and bytes ≥ 0x80 are only valid inside strings, where any of them passes (the text stays valid UTF-8
/// because the tokens' bytes are).
public struct JSONPrefix: Sendable, Equatable {
    private enum Container: Sendable, Equatable { case object, array }

    private enum State: Sendable, Equatable {
        /// Before the top-level object (whitespace allowed).
        case start
        /// A value is expected (after ':', ',' in an array, or '[').
        case value
        /// After '[': a value or ']'.
        case valueOrArrayEnd
        /// After '{': a key or '}'.
        case keyOrObjectEnd
        /// After ',' in an object: a key.
        case key
        /// Inside a string; `isKey` strings are followed by ':'.
        case string(isKey: Bool)
        case escape(isKey: Bool)
        /// Inside \uXXXX: hex digits still to read.
        case unicode(isKey: Bool, left: Int)
        case colon
        /// A value ended: ',' or the container's close (or whitespace).
        case afterValue
        /// Inside a number: which part ('-' read, leading '0', integer digits, '.', fraction digits, 'e',
        /// exponent sign, exponent digits).
        case number(NumberPart)
        /// Inside true / false / null: the bytes still to match.
        case literal(ArraySlice<UInt8>)
        /// The top-level object closed: only whitespace may follow.
        case done
    }

    public enum NumberPart: Sendable, Equatable { case minus, zero, integer, dot, fraction, exponent, exponentSign, exponentDigits }

    private var state = State.start
    private var stack: [Container] = []
    /// Whitespace bytes in a row outside strings.
    private var spaces = 0
    /// Deepest nesting allowed (a model looping on '[' must not grow the stack without bound).
    public static let maxDepth = 64
    /// Most whitespace in a row outside strings (a newline and an indent): without a bound a model may take
    /// whitespace, always valid, for ever (llama.cpp's json.gbnf bounds it too).
    public static let maxSpaces = 24

    public init() {}

    /// The top-level object is closed: the reply is a whole JSON object (and may end).
    public var isComplete: Bool { state == .done }

    /// Reads `bytes`; false (and self unchanged) when they cannot continue a JSON object.
    public mutating func feed<S: Sequence>(_ bytes: S) -> Bool where S.Element == UInt8 {
        var copy = self
        for b in bytes where !copy.step(b) { return false }
        self = copy
        return true
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private static func isHex(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x66) }

    private mutating func step(_ b: UInt8) -> Bool {
        switch state {
        case .string, .escape, .unicode: break
        default:
            if Self.isSpace(b) {
                guard spaces < Self.maxSpaces else { return false }
                spaces += 1
            } else {
                spaces = 0
            }
        }
        switch state {
        case .start:
            if Self.isSpace(b) { return true }
            return b == UInt8(ascii: "{") && open(.object)
        case .done:
            return Self.isSpace(b)
        case .value, .valueOrArrayEnd:
            if Self.isSpace(b) { return true }
            if b == UInt8(ascii: "]"), state == .valueOrArrayEnd { return close(.array) }
            return beginValue(b)
        case .keyOrObjectEnd, .key:
            if Self.isSpace(b) { return true }
            if b == UInt8(ascii: "}"), state == .keyOrObjectEnd { return close(.object) }
            guard b == UInt8(ascii: "\"") else { return false }
            state = .string(isKey: true)
            return true
        case let .string(isKey):
            switch b {
            case UInt8(ascii: "\""): state = isKey ? .colon : .afterValue
            case UInt8(ascii: "\\"): state = .escape(isKey: isKey)
            case 0 ..< 0x20: return false   // control characters must be escaped
            default: break
            }
            return true
        case let .escape(isKey):
            switch b {
            case UInt8(ascii: "u"): state = .unicode(isKey: isKey, left: 4)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): state = .string(isKey: isKey)
            default: return false
            }
            return true
        case let .unicode(isKey, left):
            guard Self.isHex(b) else { return false }
            state = left == 1 ? .string(isKey: isKey) : .unicode(isKey: isKey, left: left - 1)
            return true
        case .colon:
            if Self.isSpace(b) { return true }
            guard b == UInt8(ascii: ":") else { return false }
            state = .value
            return true
        case .afterValue:
            return afterValue(b)
        case let .literal(rest):
            guard b == rest.first else { return false }
            state = rest.count == 1 ? .afterValue : .literal(rest.dropFirst())
            return true
        case let .number(part):
            return number(part, b)
        }
    }

    private mutating func beginValue(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "{"): return open(.object)
        case UInt8(ascii: "["): return open(.array)
        case UInt8(ascii: "\""): state = .string(isKey: false)
        case UInt8(ascii: "-"): state = .number(.minus)
        case UInt8(ascii: "0"): state = .number(.zero)
        case UInt8(ascii: "1") ... UInt8(ascii: "9"): state = .number(.integer)
        case UInt8(ascii: "t"): state = .literal(Array("rue".utf8)[...])
        case UInt8(ascii: "f"): state = .literal(Array("alse".utf8)[...])
        case UInt8(ascii: "n"): state = .literal(Array("ull".utf8)[...])
        default: return false
        }
        return true
    }

    private mutating func afterValue(_ b: UInt8) -> Bool {
        if Self.isSpace(b) { return true }
        guard let top = stack.last else { return false }
        switch (b, top) {
        case (UInt8(ascii: ","), .object): state = .key
        case (UInt8(ascii: ","), .array): state = .value
        case (UInt8(ascii: "}"), .object): return close(.object)
        case (UInt8(ascii: "]"), .array): return close(.array)
        default: return false
        }
        return true
    }

    private mutating func number(_ part: NumberPart, _ b: UInt8) -> Bool {
        let digit = Self.isDigit(b)
        switch part {
        case .minus:
            guard digit else { return false }
            state = .number(b == UInt8(ascii: "0") ? .zero : .integer)
            return true
        case .zero, .integer, .fraction:
            if digit, part != .zero { return true }
            if b == UInt8(ascii: "."), part != .fraction { state = .number(.dot); return true }
            if b | 0x20 == UInt8(ascii: "e") { state = .number(.exponent); return true }
            state = .afterValue    // the number ended; this byte must follow a value
            return afterValue(b)
        case .dot:
            guard digit else { return false }
            state = .number(.fraction)
            return true
        case .exponent:
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { state = .number(.exponentSign); return true }
            guard digit else { return false }
            state = .number(.exponentDigits)
            return true
        case .exponentSign:
            guard digit else { return false }
            state = .number(.exponentDigits)
            return true
        case .exponentDigits:
            if digit { return true }
            state = .afterValue
            return afterValue(b)
        }
    }

    private mutating func open(_ c: Container) -> Bool {
        guard stack.count < Self.maxDepth else { return false }
        stack.append(c)
        state = c == .object ? .keyOrObjectEnd : .valueOrArrayEnd
        return true
    }

    private mutating func close(_ c: Container) -> Bool {
        guard stack.last == c else { return false }
        stack.removeLast()
        state = stack.isEmpty ? .done : .afterValue
        return true
    }
}
