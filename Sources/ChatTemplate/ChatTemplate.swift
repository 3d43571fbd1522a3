import Foundation

/// A chat template (Jinja2, as Hugging Face transformers renders `chat_template`), parsed once and
/// rendered with a context of variables:
///
///     let template = try ChatTemplate(source: text)
///     let prompt = try template.render(["messages": messages, "add_generation_prompt": true,
///                                       "bos_token": "<s>"])
///
/// Semantics follow transformers' environment: ImmutableSandboxedEnvironment(trim_blocks=True,
/// lstrip_blocks=True, extensions=[loopcontrols]) with its globals `raise_exception(message)` and
/// `strftime_now(format)` and its `tojson` filter. Every failure is a `TemplateError` with a position.
public struct ChatTemplate: Sendable {
    public let source: String
    private let nodes: NodeList

    public init(source: String) throws {
        self.source = source
        nodes = NodeList(try Parser.parse(source))
    }

    /// Renders with `context`'s variables; `now` is the date strftime_now formats (default: the current time).
    public func render(_ context: [String: JinjaValue], now: Date? = nil, limits: RenderLimits = RenderLimits()) throws -> String {
        let evaluator = Evaluator(limits: limits, now: now ?? Date())
        let scope = Scope(parent: nil)
        scope.variables = context
        var out = ""
        _ = try evaluator.execute(nodes.nodes, scope, into: &out)
        return out
    }
}

/// The parsed statements; immutable after parsing (literals only, no reference types), hence Sendable.
private final class NodeList: @unchecked Sendable {
    let nodes: [Node]
    init(_ nodes: [Node]) { self.nodes = nodes }
}

extension Evaluator {
    /// Names every template sees unless the context defines them: Jinja2's globals and transformers'.
    func globalValue(_ name: String) -> JinjaValue? {
        switch name {
        case "range":
            return .callable(JinjaCallable("range") { args, _ in
                let ints = try args.positional.map { v -> Int in
                    guard let i = v.asInt else { throw TemplateError.type("'\(v.typeName)' object cannot be interpreted as an integer") }
                    return i
                }
                let (start, stop, step): (Int, Int, Int)
                switch ints.count {
                case 1: (start, stop, step) = (0, ints[0], 1)
                case 2: (start, stop, step) = (ints[0], ints[1], 1)
                case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
                default: throw TemplateError.type("range expected 1 to 3 arguments, got \(ints.count)")
                }
                if step == 0 { throw TemplateError.runtime("ValueError: range() arg 3 must not be zero") }
                let count = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0) : (start > stop ? (start - stop - 1) / -step + 1 : 0)
                // Jinja2's sandbox refuses ranges over MAX_RANGE (100000) items.
                if count > 100_000 { throw TemplateError.runtime("OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).") }
                return .array((0..<count).map { .int(start + $0 * step) })
            })
        case "dict":
            return .callable(JinjaCallable("dict") { args, _ in
                var o = JinjaObject()
                if let first = args.positional.first {
                    if case .object(let given) = first { o = given } else {
                        for pair in try self.iterate(first) {
                            let kv = try self.iterate(pair)
                            guard kv.count == 2 else { throw TemplateError.runtime("ValueError: dictionary update sequence element has length \(kv.count); 2 is required") }
                            try o.set(kv[0], kv[1])
                        }
                    }
                }
                for (k, v) in args.keyword { o[k] = v }
                return .object(o)
            })
        case "namespace":
            return .callable(JinjaCallable("namespace") { args, _ in
                var o = JinjaObject()
                if case .object(let given)? = args.positional.first { o = given }
                for (k, v) in args.keyword { o[k] = v }
                return .namespace(JinjaNamespace(o))
            })
        case "raise_exception":
            return .callable(JinjaCallable("raise_exception") { args, _ in
                throw TemplateError(.raised, args.positional.first?.pythonString ?? "")
            })
        case "strftime_now":
            return .callable(JinjaCallable("strftime_now") { args, evaluator in
                .string(pythonStrftime(args.positional.first?.pythonString ?? "", evaluator.now))
            })
        case "joiner":
            return .callable(JinjaCallable("joiner") { args, _ in
                let separator = args.value(0, "sep")?.pythonString ?? ", "
                final class Used { var used = false }
                let state = Used()
                return .callable(JinjaCallable("joiner") { _, _ in
                    defer { state.used = true }
                    return .string(state.used ? separator : "")
                })
            })
        default:
            return nil
        }
    }
}

/// Python's datetime.strftime for the directives templates use (%Y %m %d %H %M %S %y %b %B %a %A %j %p %I
/// %e-free set), in UTC; others pass through as Python's would on glibc for the unknown ones.
func pythonStrftime(_ format: String, _ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
    let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    func two(_ v: Int?) -> String { String(format: "%02d", v ?? 0) }
    var out = ""
    var chars = format.makeIterator()
    while let ch = chars.next() {
        guard ch == "%" else { out.append(ch); continue }
        guard let d = chars.next() else { out += "%"; break }
        switch d {
        case "Y": out += String(format: "%04d", c.year ?? 0)
        case "y": out += two((c.year ?? 0) % 100)
        case "m": out += two(c.month)
        case "d": out += two(c.day)
        case "H": out += two(c.hour)
        case "I": out += two(((c.hour ?? 0) + 11) % 12 + 1)
        case "p": out += (c.hour ?? 0) < 12 ? "AM" : "PM"
        case "M": out += two(c.minute)
        case "S": out += two(c.second)
        case "B": out += months[(c.month ?? 1) - 1]
        case "b", "h": out += String(months[(c.month ?? 1) - 1].prefix(3))
        case "A": out += days[(c.weekday ?? 1) - 1]
        case "a": out += String(days[(c.weekday ?? 1) - 1].prefix(3))
        case "j": out += String(format: "%03d", calendar.ordinality(of: .day, in: .year, for: date) ?? 0)
        case "-":
            // glibc's %-d / %-m: no padding.
            if let e = chars.next() {
                switch e {
                case "d": out += String(c.day ?? 0)
                case "m": out += String(c.month ?? 0)
                case "H": out += String(c.hour ?? 0)
                default: out += "%-" + String(e)
                }
            }
        case "%": out += "%"
        default: out += "%" + String(d)
        }
    }
    return out
}
