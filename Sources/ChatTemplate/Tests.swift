// Jinja2's tests (`x is defined`, `x is divisibleby 3`), with Python's notion of each type.

let builtinTestNames: Set<String> = [
    "defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float",
    "boolean", "true", "false", "in", "equalto", "eq", "==", "ne", "!=", "gt", ">", "ge", ">=", "lt", "<", "le", "<=",
    "greaterthan", "lessthan", "odd", "even", "divisibleby", "lower", "upper", "callable", "sameas", "escaped",
    "filter", "test",
]

extension Evaluator {
    func applyTest(_ name: String, _ value: JinjaValue, _ args: CallArguments, _ scope: Scope? = nil) throws -> Bool {
        func argument() throws -> JinjaValue {
            guard let a = args.positional.first ?? args.keyword.first?.1 else {
                throw TemplateError.type("test '\(name)' needs an argument")
            }
            return a
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .string, .array, .tuple, .object, .undefined: return true
            default: return false
            }
        case "number": return value.isNumber
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "callable": if case .callable = value { return true } else { return false }
        case "escaped": return false
        case "in": return try pythonContains(try argument(), value)
        case "equalto", "eq", "==": return pythonEqual(value, try argument())
        case "ne", "!=": return !pythonEqual(value, try argument())
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.namespace(let a), .namespace(let b)): return a === b
            case (.callable(let a), .callable(let b)): return a === b
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            default: return false
            }
        case "gt", ">", "greaterthan", "ge", ">=", "lt", "<", "lessthan", "le", "<=":
            let other = try argument()
            try failIfUndefined(value)
            try failIfUndefined(other)
            let c = try pythonCompare(value, other, name)
            switch name {
            case "gt", ">", "greaterthan": return c > 0
            case "ge", ">=": return c >= 0
            case "lt", "<", "lessthan": return c < 0
            default: return c <= 0
            }
        case "odd", "even", "divisibleby":
            try failIfUndefined(value)
            guard let v = value.asInt else { throw TemplateError.type("test '\(name)' needs an integer, not \(value.typeName)") }
            if name == "odd" { return v % 2 != 0 }
            if name == "even" { return v % 2 == 0 }
            guard let d = try argument().asInt else { throw TemplateError.type("divisibleby needs an integer") }
            if d == 0 { throw TemplateError.runtime("ZeroDivisionError: integer division or modulo by zero") }
            return v % d == 0
        case "lower", "upper":
            let s = value.pythonString
            let cased = s.unicodeScalars.contains { $0.properties.isCased }
            return cased && (name == "lower" ? s == s.lowercased() : s == s.uppercased())
        case "filter": return builtinFilterNames.contains(try argument().pythonString)
        case "test": return builtinTestNames.contains(try argument().pythonString)
        default: throw TemplateError.runtime("no test named \(quotedForMessage(name))")
        }
    }
}
