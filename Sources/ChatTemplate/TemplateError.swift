/// Every failure of a template, at parse or at render time, with the 1-based line and column of the token
/// that caused it (0:0 where no position applies, e.g. an error raised by a value outside any template).
public struct TemplateError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// Lexing or parsing: unknown tag, unclosed block, bad expression.
        case syntax
        /// A runtime failure: type errors, unknown filter or test reached at render, undefined values used.
        case runtime
        /// `raise_exception(message)` called by the template.
        case raised
        /// The sandbox refused an operation (list.append, dict.update, …), as Jinja2's ImmutableSandbox does.
        case security
        /// A guard against runaway templates: recursion depth, output size, loop iterations.
        case limit
    }

    public var kind: Kind
    public var message: String
    public var line: Int
    public var column: Int

    public init(_ kind: Kind, _ message: String, line: Int = 0, column: Int = 0) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    /// "LINE:COL: message" — the CLI puts the file name in front.
    public var description: String { "\(line):\(column): \(message)" }

    /// The same error placed at `position`, unless it already has a position.
    func placed(at position: SourcePosition) -> TemplateError {
        guard line == 0 else { return self }
        var e = self
        e.line = position.line
        e.column = position.column
        return e
    }

    static func runtime(_ message: String) -> TemplateError { TemplateError(.runtime, message) }
    static func type(_ message: String) -> TemplateError { TemplateError(.runtime, "TypeError: " + message) }
    static func security(_ message: String) -> TemplateError { TemplateError(.security, "SecurityError: " + message) }
}

/// 1-based line and column in the template source.
public struct SourcePosition: Equatable, Sendable {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}
