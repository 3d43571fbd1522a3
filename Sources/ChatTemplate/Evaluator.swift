import Foundation

/// Guards against runaway templates; each one exceeded is a `.limit` TemplateError, never a hang or a crash.
public struct RenderLimits: Sendable {
    /// Nested macro calls (Jinja2 itself has only Python's recursion limit, about 1000 frames).
    public var maxCallDepth = 200
    /// Bytes of output, and of any one string a template builds.
    public var maxOutputBytes = 64 << 20
    /// Loop iterations in one render, all loops together.
    public var maxLoopIterations = 5_000_000
    public init() {}
}

/// Variables of one block level. Jinja2 resolves names at compile time; a chain of scopes gives the same
/// answers for what templates do: a `for` body gets a fresh scope each iteration (sets inside do not leak
/// out, nor into the next iteration), a macro call gets one whose parent is the scope the macro was
/// defined in, `if` opens none.
final class Scope {
    var variables: [String: JinjaValue] = [:]
    let parent: Scope?
    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var s: Scope? = self
        while let scope = s {
            if let v = scope.variables[name] { return v }
            s = scope.parent
        }
        return nil
    }
}

/// Walks the AST: statements append to an output string, expressions give JinjaValues.
public final class Evaluator {
    let limits: RenderLimits
    let now: Date
    private var callDepth = 0
    private var expressionDepth = 0
    private var producedBytes = 0
    private var iterations = 0

    init(limits: RenderLimits, now: Date) {
        self.limits = limits
        self.now = now
    }

    enum Flow { case normal, breakLoop, continueLoop }

    // MARK: - Statements

    func execute(_ nodes: [Node], _ scope: Scope, into out: inout String) throws -> Flow {
        for node in nodes {
            let flow = try execute(node, scope, into: &out)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func emit(_ text: String, into out: inout String) throws {
        producedBytes += text.utf8.count
        if producedBytes > limits.maxOutputBytes {
            throw TemplateError(.limit, "output exceeds \(limits.maxOutputBytes) bytes")
        }
        out += text
    }

    private func execute(_ node: Node, _ scope: Scope, into out: inout String) throws -> Flow {
        switch node {
        case .text(let s, let position):
            try located(position) { try emit(s, into: &out) }
        case .output(let e):
            let text = try evaluate(e, scope).pythonString
            try located(e.position) { try emit(text, into: &out) }
        case .ifBlock(let branches, let otherwise):
            for (condition, body) in branches where try evaluate(condition, scope).truthy {
                return try execute(body, scope, into: &out)
            }
            return try execute(otherwise, scope, into: &out)
        case .forLoop(let target, let iterable, let condition, let body, let otherwise, let position):
            return try runLoop(target, iterable, condition, body, otherwise, position, scope, into: &out)
        case .set(let target, let e, let position):
            let value = try evaluate(e, scope)
            try located(position) { try assign(target, value, scope) }
        case .setBlock(let target, let filters, let body, let position):
            var text = ""
            _ = try execute(body, Scope(parent: scope), into: &text)
            let value = try applyFilters(filters, to: .string(text), scope)
            try located(position) { try assign(target, value, scope) }
        case .macro(let definition):
            scope.variables[definition.name] = .callable(makeMacro(definition, scope))
        case .callBlock(let call, let caller, let position):
            guard case .call(let callee, let arguments, _) = call else { return .normal }
            let function = try evaluate(callee, scope)
            var args = try evaluateArguments(arguments, scope)
            args.keyword.append(("caller", .callable(makeMacro(caller, scope))))
            try emit(try located(position) { try invoke(function, args) }.pythonString, into: &out)
        case .filterBlock(let filters, let body, _):
            var text = ""
            _ = try execute(body, Scope(parent: scope), into: &text)
            try emit(try applyFilters(filters, to: .string(text), scope).pythonString, into: &out)
        case .with(let assignments, let body):
            let inner = Scope(parent: scope)
            for (target, e) in assignments { try assign(target, try evaluate(e, scope), inner) }
            return try execute(body, inner, into: &out)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func located<T>(_ position: SourcePosition, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as TemplateError {
            throw e.placed(at: position)
        }
    }

    private func applyFilters(_ filters: [(String, [Argument], SourcePosition)], to value: JinjaValue, _ scope: Scope) throws -> JinjaValue {
        var v = value
        for (name, arguments, position) in filters {
            let args = try evaluateArguments(arguments, scope)
            v = try located(position) { try applyFilter(name, v, args) }
        }
        return v
    }

    private func runLoop(_ target: AssignTarget, _ iterable: Expr, _ condition: Expr?, _ body: [Node], _ otherwise: [Node],
                         _ position: SourcePosition, _ scope: Scope, into out: inout String) throws -> Flow {
        var items = try located(iterable.position) { try iterate(try evaluate(iterable, scope)) }
        if let condition {
            items = try items.filter { item in
                let s = Scope(parent: scope)
                try located(position) { try assign(target, item, s) }
                return try evaluate(condition, s).truthy
            }
        }
        if items.isEmpty { return try execute(otherwise, scope, into: &out) }
        let length = items.count
        for (i, item) in items.enumerated() {
            iterations += 1
            if iterations > limits.maxLoopIterations {
                throw TemplateError(.limit, "more than \(limits.maxLoopIterations) loop iterations", line: position.line, column: position.column)
            }
            let s = Scope(parent: scope)
            try located(position) { try assign(target, item, s) }
            s.variables["loop"] = loopObject(index: i, length: length, items: items)
            if try execute(body, s, into: &out) == .breakLoop { break }
        }
        return .normal
    }

    /// Jinja2's `loop`: index (from 1), index0, revindex, revindex0, first, last, length, previtem,
    /// nextitem (undefined at the ends), depth, depth0, cycle(...).
    private func loopObject(index i: Int, length: Int, items: [JinjaValue]) -> JinjaValue {
        var loop = JinjaObject()
        loop["index"] = .int(i + 1)
        loop["index0"] = .int(i)
        loop["revindex"] = .int(length - i)
        loop["revindex0"] = .int(length - i - 1)
        loop["first"] = .bool(i == 0)
        loop["last"] = .bool(i == length - 1)
        loop["length"] = .int(length)
        loop["depth"] = .int(1)
        loop["depth0"] = .int(0)
        if i > 0 { loop["previtem"] = items[i - 1] }
        if i < length - 1 { loop["nextitem"] = items[i + 1] }
        loop["cycle"] = .callable(JinjaCallable("loop.cycle") { args, _ in
            guard !args.positional.isEmpty else { throw TemplateError.type("no items for cycling given") }
            return args.positional[i % args.positional.count]
        })
        return .object(loop)
    }

    /// What `for` iterates: list and tuple items, a string's characters, a dict's keys; Undefined is empty.
    func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .array(let a), .tuple(let a): return a
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .object(let o): return o.keys
        case .undefined(let hint, let security):
            if security { throw TemplateError.security(hint) }
            return []
        default: throw TemplateError.type("'\(value.typeName)' object is not iterable")
        }
    }

    private func assign(_ target: AssignTarget, _ value: JinjaValue, _ scope: Scope) throws {
        switch target {
        case .name(let n):
            scope.variables[n] = value
        case .attribute(let object, let attribute):
            guard case .namespace(let ns)? = scope.lookup(object) ?? globalValue(object) else {
                throw TemplateError.runtime("cannot assign attribute on non-namespace object")
            }
            // A namespace is the one place a value survives a loop iteration, so the one place a value can
            // nest without bound ({% set ns.x = [ns.x] %}) or contain itself ({% set ns.x = ns %}). Deeply
            // nested values would overflow the stack when printed, compared or freed: refuse them here.
            if exceedsNesting(value, JinjaValue.maxNesting, target: ns) {
                throw TemplateError(.limit, "value nested deeper than \(JinjaValue.maxNesting) levels (or containing itself)")
            }
            ns.attributes[attribute] = value
        case .tuple(let targets):
            let items = try iterate(value)
            guard items.count == targets.count else {
                throw TemplateError.runtime("ValueError: " + (items.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(items.count))"))
            }
            for (t, v) in zip(targets, items) { try assign(t, v, scope) }
        }
    }

    /// Whether `value` has containers nested more than `limit` deep, or holds `target` (the namespace it is
    /// about to be stored in, which would then contain itself).
    private func exceedsNesting(_ value: JinjaValue, _ limit: Int, target: JinjaNamespace) -> Bool {
        if limit < 0 { return true }
        switch value {
        case .array(let items), .tuple(let items): return items.contains { exceedsNesting($0, limit - 1, target: target) }
        case .object(let o): return o.values.contains { exceedsNesting($0, limit - 1, target: target) }
        case .namespace(let ns): return ns === target || ns.attributes.values.contains { exceedsNesting($0, limit - 1, target: target) }
        default: return false
        }
    }

    // MARK: - Macros and calls

    private func makeMacro(_ m: MacroDefinition, _ definingScope: Scope) -> JinjaCallable {
        JinjaCallable(m.name, isMacro: true) { [unowned self] args, _ in
            let scope = Scope(parent: definingScope)
            var positional = args.positional
            for (i, (name, _)) in m.parameters.enumerated() where i < positional.count {
                scope.variables[name] = positional[i]
            }
            positional.removeFirst(min(positional.count, m.parameters.count))
            if !positional.isEmpty && !m.catchesVarargs {
                throw TemplateError.type("macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)")
            }
            var extra = JinjaObject()
            for (name, value) in args.keyword {
                if m.parameters.contains(where: { $0.0 == name }) {
                    if scope.variables[name] != nil { throw TemplateError.type("macro '\(m.name)' got multiple values for argument \(quotedForMessage(name))") }
                    scope.variables[name] = value
                } else if name == "caller" && m.catchesCaller {
                    scope.variables["caller"] = value
                } else if m.catchesKwargs {
                    extra[name] = value
                } else {
                    throw TemplateError.type("macro '\(m.name)' takes no keyword argument \(quotedForMessage(name))")
                }
            }
            for (name, defaultValue) in m.parameters where scope.variables[name] == nil {
                scope.variables[name] = try defaultValue.map { try self.evaluate($0, scope) } ?? .undefined("'\(name)' is undefined")
            }
            if m.catchesVarargs { scope.variables["varargs"] = .tuple(positional) }
            if m.catchesKwargs { scope.variables["kwargs"] = .object(extra) }
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            if self.callDepth > self.limits.maxCallDepth {
                throw TemplateError(.limit, "macro calls nested deeper than \(self.limits.maxCallDepth) (runaway recursion?)")
            }
            var text = ""
            _ = try self.execute(m.body, scope, into: &text)
            return .string(text)
        }
    }

    func invoke(_ function: JinjaValue, _ args: CallArguments) throws -> JinjaValue {
        switch function {
        case .callable(let f): return try f.body(args, self)
        case .undefined(let hint, let security):
            throw security ? TemplateError.security(hint) : TemplateError.runtime("UndefinedError: " + hint)
        default: throw TemplateError.type("'\(function.typeName)' object is not callable")
        }
    }

    private func evaluateArguments(_ arguments: [Argument], _ scope: Scope) throws -> CallArguments {
        var args = CallArguments()
        for a in arguments {
            let v = try evaluate(a.value, scope)
            switch a.kind {
            case .positional: args.positional.append(v)
            case .keyword(let k): args.keyword.append((k, v))
            case .star: args.positional += try iterate(v)
            case .doubleStar:
                guard case .object(let o) = v else { throw TemplateError.type("argument after ** must be a mapping") }
                for (k, value) in o.pairs { args.keyword.append((k.pythonString, value)) }
            }
        }
        return args
    }

    // MARK: - Expressions

    func evaluate(_ e: Expr, _ scope: Scope) throws -> JinjaValue {
        expressionDepth += 1
        defer { expressionDepth -= 1 }
        if expressionDepth > 400 { throw TemplateError(.limit, "expression nested too deeply") }
        do {
            return try evaluateUnplaced(e, scope)
        } catch let error as TemplateError where error.line == 0 {
            throw error.placed(at: e.position)
        }
    }

    private func evaluateUnplaced(_ e: Expr, _ scope: Scope) throws -> JinjaValue {
        switch e {
        case .literal(let l, _): return l.value
        case .name(let n, _): return scope.lookup(n) ?? globalValue(n) ?? .undefined("'\(n)' is undefined")
        case .list(let items, _): return .array(try items.map { try evaluate($0, scope) })
        case .tuple(let items, _): return .tuple(try items.map { try evaluate($0, scope) })
        case .dict(let pairs, _):
            var o = JinjaObject()
            for (k, v) in pairs { try o.set(try evaluate(k, scope), try evaluate(v, scope)) }
            return .object(o)
        case .attribute(let target, let name, _):
            return try getAttribute(try evaluate(target, scope), name)
        case .item(let target, let index, _):
            return try getItem(try evaluate(target, scope), try evaluate(index, scope))
        case .slice(let target, let start, let stop, let step, _):
            let t = try evaluate(target, scope)
            func bound(_ x: Expr?) throws -> Int? {
                guard let x else { return nil }
                let v = try evaluate(x, scope)
                if v.isNone { return nil }
                guard let i = v.asInt else { throw TemplateError.type("slice indices must be integers or None") }
                return i
            }
            return try slice(t, try bound(start), try bound(stop), try bound(step))
        case .call(let callee, let arguments, _):
            let f = try evaluate(callee, scope)
            return try invoke(f, try evaluateArguments(arguments, scope))
        case .filter(let target, let name, let arguments, _):
            let value = try evaluate(target, scope)
            return try applyFilter(name, value, try evaluateArguments(arguments, scope))
        case .test(let target, let name, let negated, let arguments, _):
            let value = try evaluate(target, scope)
            let result = try applyTest(name, value, try evaluateArguments(arguments, scope), scope)
            return .bool(result != negated)
        case .unary(let op, let operand, _):
            let v = try evaluate(operand, scope)
            switch op {
            case "not": return .bool(!v.truthy)
            case "-":
                switch v {
                case .int(let i): return i == Int.min ? .double(-Double(i)) : .int(-i)
                case .bool(let b): return .int(b ? -1 : 0)
                case .double(let d): return .double(-d)
                default: try failIfUndefined(v); throw TemplateError.type("bad operand type for unary -: '\(v.typeName)'")
                }
            default:
                guard v.isNumber else { try failIfUndefined(v); throw TemplateError.type("bad operand type for unary +: '\(v.typeName)'") }
                return v
            }
        case .binary(let op, let l, let r, _):
            return try binary(op, try evaluate(l, scope), try evaluate(r, scope))
        case .logical(let isAnd, let l, let r, _):
            let left = try evaluate(l, scope)
            if isAnd { return left.truthy ? try evaluate(r, scope) : left }
            return left.truthy ? left : try evaluate(r, scope)
        case .compare(let first, let rest, _):
            var left = try evaluate(first, scope)
            for (op, rightExpr) in rest {
                let right = try evaluate(rightExpr, scope)
                guard try compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let then, let condition, let otherwise, let p):
            if try evaluate(condition, scope).truthy { return try evaluate(then, scope) }
            guard let otherwise else {
                return .undefined("the inline if-expression on line \(p.line) evaluated to false and no else section was defined.")
            }
            return try evaluate(otherwise, scope)
        }
    }

    /// Misusing Undefined (arithmetic, attributes, calls) raises as Jinja2's Undefined does.
    func failIfUndefined(_ v: JinjaValue) throws {
        if case .undefined(let hint, let security) = v {
            throw security ? TemplateError.security(hint) : TemplateError.runtime("UndefinedError: " + hint)
        }
    }

    private func compare(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case "==": return pythonEqual(a, b)
        case "!=": return !pythonEqual(a, b)
        case "in": return try pythonContains(b, a)
        case "notin": return try !pythonContains(b, a)
        default:
            try failIfUndefined(a)
            try failIfUndefined(b)
            let c = try pythonCompare(a, b, op)
            switch op {
            case "<": return c < 0
            case "<=": return c <= 0
            case ">": return c > 0
            default: return c >= 0
            }
        }
    }

    /// Bounds a string or list a template builds (repeat, concatenation, replace, join…).
    func checkSize(_ count: Int) throws {
        if count > limits.maxOutputBytes { throw TemplateError(.limit, "value exceeds \(limits.maxOutputBytes) bytes") }
    }

    func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        if op == "~" {
            let s = a.pythonString + b.pythonString
            try checkSize(s.utf8.count)
            return .string(s)
        }
        try failIfUndefined(a)
        try failIfUndefined(b)
        func unsupported() -> TemplateError {
            TemplateError.type("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            try checkSize(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case ("+", .string, _): throw TemplateError.type("can only concatenate str (not \"\(b.typeName)\") to str")
        case ("+", .array(let x), .array(let y)):
            try checkSize(x.count + y.count)
            return .array(x + y)
        case ("+", .tuple(let x), .tuple(let y)):
            try checkSize(x.count + y.count)
            return .tuple(x + y)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard let n = (a.asInt ?? b.asInt) else { throw TemplateError.type("can't multiply sequence by non-int of type '\(a.typeName == "str" ? b.typeName : a.typeName)'") }
            try checkSize(s.utf8.count.multipliedReportingOverflow(by: max(n, 0)).overflow ? Int.max : s.utf8.count * max(n, 0))
            return .string(String(repeating: s, count: max(n, 0)))
        case ("*", .array(let x), _), ("*", _, .array(let x)):
            guard let n = (a.asInt ?? b.asInt) else { throw TemplateError.type("can't multiply sequence by non-int") }
            try checkSize(x.count.multipliedReportingOverflow(by: max(n, 0)).overflow ? Int.max : x.count * max(n, 0))
            return .array(Array([[JinjaValue]](repeating: x, count: max(n, 0)).joined()))
        default: break
        }
        guard a.isNumber && b.isNumber else { throw unsupported() }
        if let x = a.asInt, let y = b.asInt {
            func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
                if r.overflow { throw TemplateError.runtime("OverflowError: integer result too large") }
                return .int(r.partialValue)
            }
            switch op {
            case "+": return try checked(x.addingReportingOverflow(y))
            case "-": return try checked(x.subtractingReportingOverflow(y))
            case "*": return try checked(x.multipliedReportingOverflow(by: y))
            case "/":
                if y == 0 { throw TemplateError.runtime("ZeroDivisionError: division by zero") }
                return .double(Double(x) / Double(y))
            case "//", "%":
                if y == 0 { throw TemplateError.runtime("ZeroDivisionError: integer division or modulo by zero") }
                if x == Int.min && y == -1 { throw TemplateError.runtime("OverflowError: integer result too large") }
                var q = x / y, r = x % y
                if r != 0 && ((r < 0) != (y < 0)) { q -= 1; r += y }
                return .int(op == "//" ? q : r)
            case "**":
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                var result = 1, base = x, e = y
                while e > 0 {
                    if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base)).asInt! }
                    e >>= 1
                    if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base)).asInt! }
                }
                return .int(result)
            default: throw unsupported()
            }
        }
        let x = a.asDouble!, y = b.asDouble!
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            if y == 0 { throw TemplateError.runtime("ZeroDivisionError: float division by zero") }
            return .double(x / y)
        case "//", "%":
            if y == 0 { throw TemplateError.runtime("ZeroDivisionError: float modulo") }
            let q = (x / y).rounded(.down)
            var r = fmod(x, y)
            if r != 0 && ((r < 0) != (y < 0)) { r += y }
            return .double(op == "//" ? q : r)
        case "**":
            if x == 0 && y < 0 { throw TemplateError.runtime("ZeroDivisionError: 0.0 cannot be raised to a negative power") }
            return .double(pow(x, y))
        default: throw unsupported()
        }
    }

    // MARK: - Attribute, item, slice

    /// `obj.name`: a method or attribute of the value first, then its item `name` (Jinja2's getattr).
    func getAttribute(_ obj: JinjaValue, _ name: String) throws -> JinjaValue {
        switch obj {
        case .undefined(let hint, let security):
            throw security ? TemplateError.security(hint) : TemplateError.runtime("UndefinedError: " + hint)
        case .namespace(let ns):
            return ns.attributes[name] ?? .undefined("'Namespace object' has no attribute \(quotedForMessage(name))")
        default:
            if let method = try boundMethod(obj, name) { return method }
            if case .object(let o) = obj {
                return o[name] ?? .undefined("'dict object' has no attribute \(quotedForMessage(name))")
            }
            return .undefined("'\(obj.typeName) object' has no attribute \(quotedForMessage(name))")
        }
    }

    /// `obj[key]`: the item first, then (for a string key) the attribute (Jinja2's getitem).
    func getItem(_ obj: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        switch obj {
        case .undefined(let hint, let security):
            throw security ? TemplateError.security(hint) : TemplateError.runtime("UndefinedError: " + hint)
        case .array(let items), .tuple(let items):
            if let i = key.asInt {
                let j = i < 0 ? i + items.count : i
                return j >= 0 && j < items.count ? items[j] : .undefined("\(obj.typeName) object has no element \(i)")
            }
        case .string(let s):
            if let i = key.asInt {
                let scalars = Array(s.unicodeScalars)
                let j = i < 0 ? i + scalars.count : i
                return j >= 0 && j < scalars.count ? .string(String(scalars[j])) : .undefined("str object has no element \(i)")
            }
        case .object(let o):
            if let v = try? o.get(key) { return v }
        case .namespace(let ns):
            if case .string(let k) = key { return ns.attributes[k] ?? .undefined("'Namespace object' has no attribute \(quotedForMessage(k))") }
        default:
            break
        }
        if case .string(let name) = key, !obj.isUndefined {
            if let method = try boundMethod(obj, name) { return method }
            return .undefined("'\(obj.typeName) object' has no attribute \(quotedForMessage(name))")
        }
        return .undefined("'\(obj.typeName) object' has no element \(quotedForMessage(key))")
    }

    private func slice(_ value: JinjaValue, _ start: Int?, _ stop: Int?, _ step: Int?) throws -> JinjaValue {
        let step = step ?? 1
        if step == 0 { throw TemplateError.runtime("ValueError: slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            func clamp(_ v: Int?, _ defaultValue: Int, lower: Int, upper: Int) -> Int {
                guard var v else { return defaultValue }
                if v < 0 { v += n }
                return min(max(v, lower), upper)
            }
            if step > 0 {
                let a = clamp(start, 0, lower: 0, upper: n), b = clamp(stop, n, lower: 0, upper: n)
                return a < b ? Array(stride(from: a, to: b, by: step)) : []
            }
            let a = clamp(start, n - 1, lower: -1, upper: n - 1), b = clamp(stop, -1, lower: -1, upper: n - 1)
            return a > b ? Array(stride(from: a, to: b, by: step)) : []
        }
        switch value {
        case .array(let items): return .array(indices(items.count).map { items[$0] })
        case .tuple(let items): return .tuple(indices(items.count).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .undefined: try failIfUndefined(value); return value
        default: throw TemplateError.type("'\(value.typeName)' object is not subscriptable")
        }
    }
}
