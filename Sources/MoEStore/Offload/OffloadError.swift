import MoEFormats

/// Errors of running with offloaded experts: budgets that cannot work, and files that changed underneath.
public enum OffloadError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The budget cannot hold what must stay in memory plus one layer's top-k experts.
    case budgetTooSmall(budget: Int, minimum: Int, detail: String)
    /// A model file became shorter (or otherwise unreadable) while the engine ran.
    case fileChanged(path: String, what: String)
    case io(path: String, what: String)
    /// A routing trace whose shape does not match the model.
    case traceMismatch(path: String, what: String)

    public var description: String {
        switch self {
        case let .budgetTooSmall(budget, minimum, detail):
            return "memory budget \(ByteSize.format(budget)) is too small: this model needs at least \(ByteSize.format(minimum)) (\(detail))"
        case let .fileChanged(path, what): return "\(path): the model file changed while running: \(what)"
        case let .io(path, what): return "\(path): \(what)"
        case let .traceMismatch(path, what): return "\(path): routing trace does not fit the model: \(what)"
        }
    }
}

