/// Tokens → AST, following Jinja2's grammar and operator precedence (loosest first):
/// `x if c else y` < or < and < not < comparisons, in, not in < + - < ~ < * / // % < ** (left-assoc, as
/// Jinja2) < unary - + < postfix (.a [i] (args)) and filters/tests (|f, is t).
struct Parser {
    private var tokens: [Token]
    private var at = 0
    /// Inside an `if` (its test and bodies) or a conditional expression, an unknown filter or test is an
    /// error only when reached at render time; elsewhere it is a syntax error (Jinja2's "soft frame").
    private var soft = false
    private var loopDepth = 0
    /// Names read while parsing the current macro body (for varargs / kwargs / caller).
    private var usedNames: Set<String> = []
    /// Blocks inside blocks plus expressions inside expressions: bounded, so that a pathological template
    /// ("((((…" or thousands of nested ifs) is a syntax error rather than a stack overflow.
    private var depth = 0
    static let maxDepth = 200
    /// Unknown filters and tests seen outside a soft frame, thrown at the end of the statement: the `then`
    /// part of `x if c else y` is parsed before the `if` shows it was soft after all.
    private var unknownNames: [TemplateError] = []

    init(_ tokens: [Token]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [Node] {
        var parser = Parser(try Lexer.tokenize(source))
        let (nodes, end) = try parser.subparse(until: [])
        if let end { throw parser.error("unexpected '\(end.name)'", at: end.position) }
        return nodes
    }

    // MARK: - Token helpers

    private var current: Token { tokens[at] }

    private mutating func advance() -> Token {
        let t = tokens[at]
        if at < tokens.count - 1 { at += 1 }
        return t
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Parser.maxDepth { throw error("template nested too deeply (more than \(Parser.maxDepth) levels)") }
    }

    private func error(_ message: String, at position: SourcePosition? = nil) -> TemplateError {
        let p = position ?? current.position
        return TemplateError(.syntax, message, line: p.line, column: p.column)
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { _ = advance(); return true }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) { _ = advance(); return true }
        return false
    }

    private mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw error("expected '\(op)', got \(current.describe)") }
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw error("expected a name, got \(current.describe)") }
        _ = advance()
        return n
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw error("expected end of statement block ('%}'), got \(current.describe)") }
        _ = advance()
    }

    // MARK: - Statements

    /// Parses nodes until one of the block tags `until` (consumed, with its name returned) or the end.
    private mutating func subparse(until endTags: Set<String>) throws -> ([Node], (name: String, position: SourcePosition)?) {
        var nodes: [Node] = []
        while true {
            let token = advance()
            switch token.kind {
            case .eof:
                return (nodes, nil)
            case .text(let s):
                nodes.append(.text(s, token.position))
            case .variableBegin:
                let e = try parseTuple()
                if let first = unknownNames.first { throw first }
                guard current.kind == .variableEnd else { throw error("expected end of print statement ('}}'), got \(current.describe)") }
                _ = advance()
                nodes.append(.output(e))
            case .blockBegin:
                let tagPosition = current.position
                guard case .name(let tag) = current.kind else { throw error("expected a tag name, got \(current.describe)") }
                if endTags.contains(tag) {
                    _ = advance()
                    return (nodes, (tag, tagPosition))
                }
                _ = advance()
                let node = try statement(tag, at: tagPosition, enclosing: endTags)
                if let first = unknownNames.first { throw first }
                nodes.append(node)
            default:
                throw error("unexpected \(token.describe)", at: token.position)
            }
        }
    }

    /// A block's body up to one of `endTags`; reaching the end of the template first is an error placed
    /// at the block's opening tag.
    private mutating func body(of tag: String, at position: SourcePosition, until endTags: Set<String>) throws -> ([Node], String) {
        let (nodes, end) = try subparse(until: endTags)
        guard let end else {
            let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw error("unexpected end of template: the '\(tag)' block is never closed (expected \(expected))", at: position)
        }
        return (nodes, end.name)
    }

    private mutating func statement(_ tag: String, at position: SourcePosition, enclosing: Set<String>) throws -> Node {
        try enter()
        defer { depth -= 1 }
        switch tag {
        case "if": return try parseIf(at: position)
        case "for": return try parseFor(at: position)
        case "set": return try parseSet(at: position)
        case "macro": return try parseMacro(at: position)
        case "call": return try parseCallBlock(at: position)
        case "filter":
            let filters = try parseFilterChain(leadingPipe: false)
            try expectBlockEnd()
            let (nodes, _) = try withHardFrame { try $0.body(of: "filter", at: position, until: ["endfilter"]) }
            try expectBlockEnd()
            return .filterBlock(filters: filters, body: nodes, position)
        case "with":
            var assignments: [(AssignTarget, Expr)] = []
            while current.kind != .blockEnd {
                if !assignments.isEmpty { try expectOp(",") }
                let target = try parseAssignTarget(namespaceAttribute: false)
                try expectOp("=")
                assignments.append((target, try parseExpression()))
            }
            try expectBlockEnd()
            let (nodes, _) = try withHardFrame { try $0.body(of: "with", at: position, until: ["endwith"]) }
            try expectBlockEnd()
            return .with(assignments, body: nodes)
        case "generation":
            // transformers' AssistantTracker extension: marks assistant text for return_assistant_tokens_mask;
            // for rendering, its body is a call block's (a scope of its own).
            try expectBlockEnd()
            let (nodes, _) = try withHardFrame { try $0.body(of: "generation", at: position, until: ["endgeneration"]) }
            try expectBlockEnd()
            return .with([], body: nodes)
        case "break", "continue":
            guard loopDepth > 0 else { throw error("'\(tag)' outside of a for loop", at: position) }
            try expectBlockEnd()
            return tag == "break" ? .breakLoop(position) : .continueLoop(position)
        default:
            var message = "unknown tag '\(tag)'"
            if !enclosing.isEmpty {
                message += " (expected " + enclosing.sorted().map { "'\($0)'" }.joined(separator: " or ") + ")"
            }
            throw error(message, at: position)
        }
    }

    private mutating func withHardFrame<T>(_ body: (inout Parser) throws -> T) rethrows -> T {
        let saved = soft
        soft = false
        defer { soft = saved }
        return try body(&self)
    }

    private mutating func parseIf(at position: SourcePosition) throws -> Node {
        let saved = soft
        soft = true
        defer { soft = saved }
        var branches: [(Expr, [Node])] = []
        var otherwise: [Node] = []
        var condition = try parseTuple(withCondexpr: false)
        while true {
            try expectBlockEnd()
            let (nodes, end) = try body(of: "if", at: position, until: ["elif", "else", "endif"])
            branches.append((condition, nodes))
            if end == "elif" {
                condition = try parseTuple(withCondexpr: false)
                continue
            }
            if end == "else" {
                try expectBlockEnd()
                (otherwise, _) = try body(of: "if", at: position, until: ["endif"])
            }
            try expectBlockEnd()
            return .ifBlock(branches, otherwise: otherwise)
        }
    }

    private mutating func parseFor(at position: SourcePosition) throws -> Node {
        let target = try parseAssignTarget(namespaceAttribute: false)
        guard skipName("in") else { throw error("expected 'in', got \(current.describe)") }
        let iterable = try parseTuple(withCondexpr: false)
        return try withHardFrame { p in
            var condition: Expr?
            if p.skipName("if") { condition = try p.parseExpression() }
            if p.isName("recursive") { throw p.error("recursive for loops are not supported") }
            try p.expectBlockEnd()
            p.loopDepth += 1
            let (body, end) = try p.body(of: "for", at: position, until: ["endfor", "else"])
            p.loopDepth -= 1
            var otherwise: [Node] = []
            if end == "else" {
                try p.expectBlockEnd()
                (otherwise, _) = try p.body(of: "for", at: position, until: ["endfor"])
            }
            try p.expectBlockEnd()
            return .forLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, position)
        }
    }

    private mutating func parseSet(at position: SourcePosition) throws -> Node {
        let target = try parseAssignTarget(namespaceAttribute: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value, position)
        }
        let filters = try parseFilterChain(leadingPipe: true)
        try expectBlockEnd()
        let (nodes, _) = try withHardFrame { try $0.body(of: "set", at: position, until: ["endset"]) }
        try expectBlockEnd()
        return .setBlock(target, filters: filters, body: nodes, position)
    }

    /// `{% filter upper|trim %}` (no leading pipe) and `{% set x | upper %}` (a pipe before each filter).
    private mutating func parseFilterChain(leadingPipe: Bool) throws -> [(String, [Argument], SourcePosition)] {
        var filters: [(String, [Argument], SourcePosition)] = []
        while skipOp("|") || (!leadingPipe && filters.isEmpty) {
            let p = current.position
            let name = try parseDottedName()
            try checkKnown(name, filter: true, at: p)
            filters.append((name, isOp("(") ? try parseCallArguments() : [], p))
        }
        return filters
    }

    private mutating func parseMacroSignature() throws -> [(String, Expr?)] {
        var parameters: [(String, Expr?)] = []
        try expectOp("(")
        while !skipOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if skipOp(")") { break }
            let p = current.position
            let name = try expectName()
            if parameters.contains(where: { $0.0 == name }) { throw error("duplicate parameter '\(name)'", at: p) }
            var defaultValue: Expr?
            if skipOp("=") { defaultValue = try parseExpression() }
            else if parameters.contains(where: { $0.1 != nil }) { throw error("non-default argument follows default argument", at: p) }
            parameters.append((name, defaultValue))
        }
        return parameters
    }

    private mutating func parseMacroBody(name: String, parameters: [(String, Expr?)], endTag: String, at position: SourcePosition) throws -> MacroDefinition {
        let savedNames = usedNames, savedLoops = loopDepth
        usedNames = []
        loopDepth = 0
        defer { loopDepth = savedLoops }
        let (body, _) = try withHardFrame { try $0.body(of: endTag == "endmacro" ? "macro" : "call", at: position, until: [endTag]) }
        try expectBlockEnd()
        let names = usedNames
        usedNames = savedNames.union(names)
        return MacroDefinition(name: name, parameters: parameters, body: body,
                               catchesVarargs: names.contains("varargs"), catchesKwargs: names.contains("kwargs"),
                               catchesCaller: names.contains("caller"), position: position)
    }

    private mutating func parseMacro(at position: SourcePosition) throws -> Node {
        let name = try expectName()
        let parameters = try parseMacroSignature()
        try expectBlockEnd()
        return .macro(try parseMacroBody(name: name, parameters: parameters, endTag: "endmacro", at: position))
    }

    private mutating func parseCallBlock(at position: SourcePosition) throws -> Node {
        let parameters = isOp("(") ? try parseMacroSignature() : []
        let call = try parseExpression()
        guard case .call = call else { throw error("expected a call after 'call'", at: call.position) }
        try expectBlockEnd()
        let caller = try parseMacroBody(name: "caller", parameters: parameters, endTag: "endcall", at: position)
        return .callBlock(call: call, caller: caller, position)
    }

    private mutating func parseAssignTarget(namespaceAttribute: Bool) throws -> AssignTarget {
        var targets: [AssignTarget] = []
        let parenthesized = skipOp("(")
        repeat {
            if parenthesized && isOp(")") { break }
            let p = current.position
            let name = try expectName()
            if namespaceAttribute && skipOp(".") {
                targets.append(.attribute(name, try expectName()))
            } else {
                if ["true", "false", "none", "True", "False", "None"].contains(name) { throw error("cannot assign to '\(name)'", at: p) }
                targets.append(.name(name))
            }
        } while skipOp(",") && !(current.kind == .blockEnd || isOp("=") || isName("in"))
        if parenthesized { try expectOp(")") }
        return targets.count == 1 && !parenthesized ? targets[0] : .tuple(targets)
    }

    // MARK: - Expressions

    /// `a, b` is a tuple where Jinja2 allows one (print statements, set values, for iterables).
    private mutating func parseTuple(withCondexpr: Bool = true) throws -> Expr {
        let p = current.position
        var items: [Expr] = []
        var sawComma = false
        while true {
            if !items.isEmpty {
                guard skipOp(",") else { break }
                sawComma = true
                if current.kind == .blockEnd || current.kind == .variableEnd || isOp(")") || isName("if") || isName("recursive") { break }
            }
            items.append(withCondexpr ? try parseExpression() : try parseOr())
        }
        return items.count == 1 && !sawComma ? items[0] : .tuple(items, p)
    }

    mutating func parseExpression() throws -> Expr {
        let p = current.position
        let saved = soft
        let unknownBefore = unknownNames.count
        var e = try parseOr()
        while skipName("if") {
            // The part before `if` belongs to the conditional's soft frame too.
            unknownNames.removeSubrange(unknownBefore...)
            soft = true
            let condition = try parseOr()
            var otherwise: Expr?
            if skipName("else") { otherwise = try parseExpression() }
            e = .conditional(then: e, condition: condition, otherwise: otherwise, p)
            soft = saved
        }
        return e
    }

    private mutating func parseOr() throws -> Expr {
        var e = try parseAnd()
        while isName("or") {
            let p = advance().position
            e = .logical(isAnd: false, e, try parseAnd(), p)
        }
        return e
    }

    private mutating func parseAnd() throws -> Expr {
        var e = try parseNot()
        while isName("and") {
            let p = advance().position
            e = .logical(isAnd: true, e, try parseNot(), p)
        }
        return e
    }

    private mutating func parseNot() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        if isName("not") {
            let p = advance().position
            return .unary("not", try parseNot(), p)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let p = current.position
        let first = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                _ = advance()
                ops.append((o, try parseMath1()))
            } else if isName("in") {
                _ = advance()
                ops.append(("in", try parseMath1()))
            } else if isName("not"), at + 1 < tokens.count, tokens[at + 1].kind == .name("in") {
                _ = advance(); _ = advance()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? first : .compare(first, ops, p)
    }

    private mutating func parseMath1() throws -> Expr {
        var e = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            let p = advance().position
            e = .binary(o, e, try parseConcat(), p)
        }
        return e
    }

    private mutating func parseConcat() throws -> Expr {
        var e = try parseMath2()
        while isOp("~") {
            let p = advance().position
            e = .binary("~", e, try parseMath2(), p)
        }
        return e
    }

    private mutating func parseMath2() throws -> Expr {
        var e = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            let p = advance().position
            e = .binary(o, e, try parsePow(), p)
        }
        return e
    }

    private mutating func parsePow() throws -> Expr {
        var e = try parseUnary()
        while isOp("**") {
            let p = advance().position
            e = .binary("**", e, try parseUnary(), p)
        }
        return e
    }

    private mutating func parseUnary(withFilters: Bool = true) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var e: Expr
        if case .op(let o) = current.kind, o == "-" || o == "+" {
            let p = advance().position
            e = .unary(o, try parseUnary(withFilters: false), p)
        } else {
            e = try parsePrimary()
        }
        e = try parsePostfix(e)
        return withFilters ? try parseFilterExpression(e) : e
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = advance()
        let p = token.position
        switch token.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true), p)
            case "false", "False": return .literal(.bool(false), p)
            case "none", "None": return .literal(.none, p)
            default:
                usedNames.insert(n)
                return .name(n, p)
            }
        case .string(var s):
            while case .string(let more) = current.kind { s += more; _ = advance() }
            return .literal(.string(s), p)
        case .integer(let i): return .literal(.int(i), p)
        case .float(let d): return .literal(.double(d), p)
        case .op("("):
            if skipOp(")") { return .tuple([], p) }
            let e = try parseTuple()
            try expectOp(")")
            return e
        case .op("["):
            var items: [Expr] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(","); if skipOp("]") { break } }
                items.append(try parseExpression())
            }
            return .list(items, p)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !skipOp("}") {
                if !pairs.isEmpty { try expectOp(","); if skipOp("}") { break } }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            return .dict(pairs, p)
        default:
            throw error("unexpected \(token.describe)", at: p)
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var e = start
        while true {
            let p = current.position
            if skipOp(".") {
                switch advance().kind {
                case .name(let n): e = .attribute(e, n, p)
                case .integer(let i): e = .item(e, .literal(.int(i), p), p)
                default: throw error("expected an attribute name after '.'", at: p)
                }
            } else if skipOp("[") {
                e = try parseSubscript(e, at: p)
            } else if isOp("(") {
                e = .call(e, try parseCallArguments(), p)
            } else {
                return e
            }
        }
    }

    private mutating func parseSubscript(_ target: Expr, at p: SourcePosition) throws -> Expr {
        func part(_ parser: inout Parser) throws -> Expr? {
            parser.isOp(":") || parser.isOp("]") ? nil : try parser.parseExpression()
        }
        let start = try part(&self)
        if skipOp(":") {
            let stop = try part(&self)
            var step: Expr?
            if skipOp(":") { step = try part(&self) }
            try expectOp("]")
            return .slice(target, start: start, stop: stop, step: step, p)
        }
        guard let start else { throw error("expected an index or a slice", at: p) }
        if isOp(",") {
            var items = [start]
            while skipOp(",") && !isOp("]") { items.append(try parseExpression()) }
            try expectOp("]")
            return .item(target, .tuple(items, p), p)
        }
        try expectOp("]")
        return .item(target, start, p)
    }

    private mutating func parseCallArguments() throws -> [Argument] {
        try expectOp("(")
        var arguments: [Argument] = []
        while !skipOp(")") {
            if !arguments.isEmpty { try expectOp(","); if skipOp(")") { break } }
            if skipOp("**") {
                arguments.append(Argument(kind: .doubleStar, value: try parseExpression()))
            } else if skipOp("*") {
                arguments.append(Argument(kind: .star, value: try parseExpression()))
            } else if case .name(let n) = current.kind, at + 1 < tokens.count, tokens[at + 1].kind == .op("=") {
                _ = advance(); _ = advance()
                arguments.append(Argument(kind: .keyword(n), value: try parseExpression()))
            } else {
                if arguments.contains(where: { if case .keyword = $0.kind { return true } else { return false } }) {
                    throw error("positional argument follows keyword argument")
                }
                arguments.append(Argument(kind: .positional, value: try parseExpression()))
            }
        }
        return arguments
    }

    private mutating func parseDottedName() throws -> String {
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        return name
    }

    private mutating func checkKnown(_ name: String, filter: Bool, at p: SourcePosition) throws {
        if soft { return }
        if filter ? !builtinFilterNames.contains(name) : !builtinTestNames.contains(name) {
            unknownNames.append(error("no \(filter ? "filter" : "test") named '\(name)'", at: p))
        }
    }

    private mutating func parseFilterExpression(_ start: Expr) throws -> Expr {
        var e = start
        while true {
            if skipOp("|") {
                let p = current.position
                let name = try parseDottedName()
                try checkKnown(name, filter: true, at: p)
                e = .filter(e, name: name, isOp("(") ? try parseCallArguments() : [], p)
            } else if isName("is") {
                _ = advance()
                let negated = skipName("not")
                let p = current.position
                let name = try parseDottedName()
                try checkKnown(name, filter: false, at: p)
                var arguments: [Argument] = []
                if isOp("(") {
                    arguments = try parseCallArguments()
                } else if startsTestArgument {
                    if isName("is") { throw error("cannot chain multiple tests with is") }
                    arguments = [Argument(kind: .positional, value: try parsePostfix(try parsePrimary()))]
                }
                e = .test(e, name: name, negated: negated, arguments, p)
            } else if isOp("(") {
                let p = current.position
                e = .call(e, try parseCallArguments(), p)
            } else {
                return e
            }
        }
    }

    /// `x is divisibleby 3`, `x is sameas none`: a test takes one bare argument when one follows.
    private var startsTestArgument: Bool {
        switch current.kind {
        case .name(let n): return !["else", "or", "and"].contains(n)
        case .string, .integer, .float, .op("["), .op("{"): return true
        default: return false
        }
    }
}
