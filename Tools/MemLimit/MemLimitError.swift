import MoEFormats

/// Everything that can go wrong around a limited run, each with a one-line description. The child's own
/// failures are not errors: they are in `MemLimitResult` (exit status, signal, OOM kill).
public enum MemLimitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No memory cgroup can be made on this machine; the text says why (each hierarchy tried).
    case unavailable(String)
    /// A limit below `MemoryLimit.minimumLimitBytes` (bytes).
    case limitTooSmall(Int)
    /// No command to run.
    case emptyCommand
    /// A cgroup file or directory operation failed: what was attempted (naming the path), and the system's reason.
    case cgroup(String, String)
    /// A file to drop from the page cache could not be opened or advised: its path, and why.
    case dropFile(String, String)
    /// The child could not be started: what, and why.
    case spawn(String, String)
    /// The child was started but could not join the cgroup (it was stopped before running the command).
    case joinFailed(String)

    public var description: String {
        switch self {
        case let .unavailable(why): return "no memory cgroup can be made: \(why)"
        case let .limitTooSmall(bytes):
            return "limit \(bytes) bytes is below the minimum \(ByteSize.format(MemoryLimit.minimumLimitBytes)) (not even the starting shell fits)"
        case .emptyCommand: return "no command given (put it after --, as: memlimit --limit 1GiB -- COMMAND ARGS...)"
        case let .cgroup(what, why): return "\(what): \(why)"
        case let .dropFile(path, why): return "cannot drop \(path) from the page cache: \(why)"
        case let .spawn(what, why): return "cannot start \(what): \(why)"
        case let .joinFailed(path): return "the command could not join the cgroup \(path); it was not run"
        }
    }

    /// True for mistakes in what the caller asked (sizes, an empty command), false for what the machine refused.
    public var isUsageError: Bool {
        switch self {
        case .limitTooSmall, .emptyCommand: return true
        default: return false
        }
    }
}
