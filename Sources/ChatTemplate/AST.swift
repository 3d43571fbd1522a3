/// The parsed template: statements (Node) over expressions (Expr), each with its source position for errors.

indirect enum Expr {
    case literal(Literal, SourcePosition)
    case name(String, SourcePosition)
    case list([Expr], SourcePosition)
    case tuple([Expr], SourcePosition)
    case dict([(Expr, Expr)], SourcePosition)
    /// `a.b` — attribute first, then item, as Jinja2's getattr.
    case attribute(Expr, String, SourcePosition)
    /// `a[b]` — item first, then attribute.
    case item(Expr, Expr, SourcePosition)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?, SourcePosition)
    case call(Expr, [Argument], SourcePosition)
    case filter(Expr, name: String, [Argument], SourcePosition)
    case test(Expr, name: String, negated: Bool, [Argument], SourcePosition)
    case unary(String, Expr, SourcePosition)
    case binary(String, Expr, Expr, SourcePosition)
    /// `and` / `or` with Python's short circuit: the value of the deciding operand.
    case logical(isAnd: Bool, Expr, Expr, SourcePosition)
    /// Comparison chain `a < b <= c`.
    case compare(Expr, [(String, Expr)], SourcePosition)
    case conditional(then: Expr, condition: Expr, otherwise: Expr?, SourcePosition)

    var position: SourcePosition {
        switch self {
        case .literal(_, let p), .name(_, let p), .list(_, let p), .tuple(_, let p), .dict(_, let p),
             .attribute(_, _, let p), .item(_, _, let p), .slice(_, _, _, _, let p), .call(_, _, let p),
             .filter(_, _, _, let p), .test(_, _, _, _, let p), .unary(_, _, let p), .binary(_, _, _, let p),
             .logical(_, _, _, let p), .compare(_, _, let p), .conditional(_, _, _, let p):
            return p
        }
    }
}

/// Constants of the source (kept apart from JinjaValue so that a parsed template holds no reference types).
enum Literal {
    case none, bool(Bool), int(Int), double(Double), string(String)

    var value: JinjaValue {
        switch self {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        }
    }
}

/// A call argument: positional (`name == nil`), keyword, `*args` or `**kwargs`.
struct Argument {
    enum Kind { case positional, keyword(String), star, doubleStar }
    var kind: Kind
    var value: Expr
}

/// The target of `set` and `for`: a name, a namespace attribute (`ns.x`), or a tuple of targets.
indirect enum AssignTarget {
    case name(String)
    case attribute(String, String)
    case tuple([AssignTarget])
}

struct MacroDefinition {
    var name: String
    var parameters: [(String, Expr?)]
    var body: [Node]
    /// Whether the body mentions `varargs` / `kwargs` / `caller`: only then does the macro accept extra
    /// positional arguments, extra keywords, a `caller` (Jinja2 decides this the same way, at compile time).
    var catchesVarargs: Bool
    var catchesKwargs: Bool
    var catchesCaller: Bool
    var position: SourcePosition
}

indirect enum Node {
    case text(String, SourcePosition)
    case output(Expr)
    case ifBlock([(Expr, [Node])], otherwise: [Node])
    case forLoop(target: AssignTarget, iterable: Expr, condition: Expr?, body: [Node], otherwise: [Node], SourcePosition)
    case set(AssignTarget, Expr, SourcePosition)
    case setBlock(AssignTarget, filters: [(String, [Argument], SourcePosition)], body: [Node], SourcePosition)
    case macro(MacroDefinition)
    /// `{% call(params) m(args) %}body{% endcall %}`: calls m with `caller` bound to body as a macro.
    case callBlock(call: Expr, caller: MacroDefinition, SourcePosition)
    case filterBlock(filters: [(String, [Argument], SourcePosition)], body: [Node], SourcePosition)
    case with([(AssignTarget, Expr)], body: [Node])
    case breakLoop(SourcePosition)
    case continueLoop(SourcePosition)
}
