import Foundation

/// A value as a template sees it: Python's types as Jinja2 hands them to a template (None, bool, int,
/// float, str, list, tuple, dict), plus Jinja2's Undefined, namespace() objects and callables.
/// Strings compare, hash, count and slice by Unicode scalar (Python's code points), never by Swift's
/// canonically-equivalent Characters: "é" and "e\u{301}" are different strings here, as in Python.
public enum JinjaValue {
    /// A missing variable, attribute or key. `hint` names it for error messages; `security` marks the
    /// undefined the sandbox hands out for an unsafe attribute (list.append): using it raises that error.
    case undefined(hint: String, security: Bool)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case tuple([JinjaValue])
    case object(JinjaObject)
    case namespace(JinjaNamespace)
    case callable(JinjaCallable)

    /// How deep containers may nest: JSON contexts and namespace attributes beyond it are refused, so that
    /// printing, comparing and freeing a value never recurse deeper than the stack allows.
    public static let maxNesting = 256

    public static var undefinedValue: JinjaValue { .undefined(hint: "value", security: false) }
    static func undefined(_ hint: String) -> JinjaValue { .undefined(hint: hint, security: false) }

    public var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
    public var isNone: Bool { if case .none = self { return true } else { return false } }

    /// Python's truthiness; Undefined is false.
    public var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .namespace, .callable: return true
        }
    }

    /// Python's type name, for error messages ("'list' object").
    public var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .tuple: return "tuple"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    var isNumber: Bool {
        switch self {
        case .int, .double, .bool: return true
        default: return false
        }
    }

    /// int or float as Double (bool counts as int, as in Python arithmetic).
    var asDouble: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var asInt: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}

// MARK: - Containers and reference types

/// Python's dict: insertion-ordered, keys compared as Python compares them (1 == 1.0 == True).
public struct JinjaObject {
    public private(set) var keys: [JinjaValue] = []
    public private(set) var values: [JinjaValue] = []
    private var index: [DictKey: Int] = [:]

    public init() {}
    public init(_ pairs: [(String, JinjaValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }
    public var pairs: Zip2Sequence<[JinjaValue], [JinjaValue]> { zip(keys, values) }

    public subscript(key: String) -> JinjaValue? {
        get { index[.string(ExactString(key))].map { values[$0] } }
        set {
            if let newValue { try? set(.string(key), newValue) }
        }
    }

    func get(_ key: JinjaValue) throws -> JinjaValue? {
        try index[DictKey(key)].map { values[$0] }
    }

    mutating func set(_ key: JinjaValue, _ value: JinjaValue) throws {
        let k = try DictKey(key)
        if let i = index[k] {
            values[i] = value
        } else {
            index[k] = keys.count
            keys.append(key)
            values.append(value)
        }
    }
}

/// A string whose equality and hash are by Unicode scalars (Python's), not canonical equivalence.
struct ExactString: Hashable {
    let value: String
    init(_ value: String) { self.value = value }
    static func == (a: ExactString, b: ExactString) -> Bool { a.value.unicodeScalars.elementsEqual(b.value.unicodeScalars) }
    func hash(into h: inout Hasher) { for s in value.unicodeScalars { h.combine(s.value) } }
}

/// A dict key as Python hashes it: bool and integral floats collapse onto int.
enum DictKey: Hashable {
    case none, int(Int), double(Double), string(ExactString), tuple([DictKey])

    init(_ v: JinjaValue) throws {
        switch v {
        case .none: self = .none
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let i): self = .int(i)
        case .double(let d): self = (d.rounded() == d && abs(d) < 9e18) ? .int(Int(d)) : .double(d)
        case .string(let s): self = .string(ExactString(s))
        case .tuple(let items): self = .tuple(try items.map(DictKey.init))
        default: throw TemplateError.type("unhashable type: '\(v.typeName)'")
        }
    }
}

/// `namespace(...)`: the one mutable object a template can make; `{% set ns.x = v %}` writes through it.
public final class JinjaNamespace {
    public var attributes: JinjaObject
    public init(_ attributes: JinjaObject = JinjaObject()) { self.attributes = attributes }
}

/// Arguments of a call: positional, then keyword in source order.
public struct CallArguments {
    public var positional: [JinjaValue]
    public var keyword: [(String, JinjaValue)]
    public init(_ positional: [JinjaValue] = [], keyword: [(String, JinjaValue)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// The argument at `position` or named `name`, nil when absent.
    func value(_ position: Int, _ name: String) -> JinjaValue? {
        if position < positional.count { return positional[position] }
        return keyword.first(where: { $0.0 == name })?.1
    }

    /// Throws unless every keyword is one of `names` and there are at most `names.count` arguments in all.
    func check(_ function: String, _ names: [String]) throws {
        if positional.count > names.count {
            throw TemplateError.type("\(function)() takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        for (k, _) in keyword where !names.contains(k) {
            throw TemplateError.type("\(function)() got an unexpected keyword argument \(quotedForMessage(k))")
        }
    }
}

/// A function value: a macro, a global (range, namespace, raise_exception…), or a bound method ("x".split).
public final class JinjaCallable {
    public let name: String
    /// A template's macro (prints as <Macro 'name'>), not a built-in.
    let isMacro: Bool
    let body: (CallArguments, Evaluator) throws -> JinjaValue
    init(_ name: String, isMacro: Bool = false, _ body: @escaping (CallArguments, Evaluator) throws -> JinjaValue) {
        self.name = name
        self.isMacro = isMacro
        self.body = body
    }
    /// A callable that ignores the evaluator (globals given by the embedding program).
    public convenience init(name: String, _ body: @escaping (CallArguments) throws -> JinjaValue) {
        self.init(name) { args, _ in try body(args) }
    }
}

// MARK: - Building values from Swift

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .none }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(JinjaObject(elements)) }
}
