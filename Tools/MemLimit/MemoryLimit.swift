import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a limited run did. Sizes in bytes, times in seconds.
public struct MemLimitResult: Sendable, Codable {
    public let command: [String]
    public let backend: CgroupVersion
    /// The cgroup the command ran in (removed afterwards unless `cleanupProblem` says otherwise).
    public let cgroup: String
    /// The limit as the kernel holds it (rounded down to whole pages), bytes.
    public let limitBytes: Int
    /// The cgroup's high-water mark (v1 memory.max_usage_in_bytes, v2 memory.peak): anonymous memory and
    /// page cache charged while the command ran, bytes. nil where the kernel has no such file (v2 before 5.19).
    public let peakBytes: Int?
    /// Times a charge hit the limit (v1 memory.failcnt + memory.memsw.failcnt, v2 memory.events `max`).
    /// Nonzero does not mean failure: reading a file larger than the limit hits it and reclaims page cache.
    public let failCount: Int
    /// Processes of the cgroup the kernel's OOM killer killed (v1 memory.oom_control `oom_kill`, v2
    /// memory.events `oom_kill`); nil where the kernel does not count them (v1 before 4.13).
    public let oomKillCount: Int?
    /// True when the OOM killer killed a process in the cgroup (the command or one it started); without an
    /// `oom_kill` counter, when the command died of SIGKILL after hitting the limit.
    public let oomKilled: Bool
    /// The command's exit code, nil when a signal ended it.
    public let exitCode: Int32?
    /// The signal that ended the command, nil when it exited.
    public let signal: Int32?
    /// From starting the command to reaping it, seconds.
    public let wallSeconds: Double
    /// The files dropped from the page cache before the run.
    public let dropped: [DroppedFile]
    /// Why the cgroup could not be removed afterwards; nil when it was.
    public let cleanupProblem: String?

    /// The exit status as a shell reports it: the exit code, or 128 + the signal.
    public var status: Int32 { exitCode ?? 128 + (signal ?? 0) }
}

public enum MemoryLimit {
    /// The smallest limit `run` accepts, bytes: below a few hundred KiB not even the shell that moves the
    /// command into its cgroup can start, and the kernel rounds limits to whole pages anyway.
    public static let minimumLimitBytes = 1 << 20

    /// Runs `command` (looked up in PATH) in a fresh memory cgroup limited to `limitBytes`, after dropping
    /// `dropFromPageCache` from the page cache, and waits for it. The command inherits stdin, stdout and
    /// stderr. The cgroup is removed afterwards, also when something fails.
    ///
    /// - Parameters:
    ///   - environment: variables set (or replaced) on top of this process's environment.
    ///   - backend: where to make the cgroup; `probed` when nil.
    ///   - forwardSignals: while the command runs, SIGINT, SIGTERM and SIGHUP sent to this process are
    ///     passed on to it instead of ending this process (which must stay to read the counters and remove
    ///     the cgroup). This changes process-wide signal dispositions for the duration, so it is for
    ///     command-line tools, not for tests running in parallel.
    /// - Throws: `MemLimitError` when the run could not be set up; the command's own failure is in the result.
    public static func run(_ command: [String], limitBytes: Int, dropFromPageCache files: [String] = [],
                           environment: [String: String] = [:], backend: Backend? = nil,
                           forwardSignals: Bool = false) throws(MemLimitError) -> MemLimitResult {
        guard !command.isEmpty, !command[0].isEmpty else { throw .emptyCommand }
        guard limitBytes >= minimumLimitBytes else { throw .limitTooSmall(limitBytes) }
        let chosen: Backend
        if let backend {
            chosen = backend
        } else {
            switch probed {
            case let .success(b): chosen = b
            case let .failure(u): throw .unavailable(u.description)
            }
        }

        // Dropped before the cgroup is made: a missing file is the caller's mistake and leaves nothing to undo.
        var dropped: [DroppedFile] = []
        for f in files { dropped.append(try PageCache.drop(f)) }

        let cgroup = try Cgroup.make(chosen, limitBytes: limitBytes)
        var removed = false
        defer { if !removed { _ = cgroup.remove() } }   // on every error path below

        let forwarder = forwardSignals ? SignalForwarder() : nil
        defer { forwarder?.stop() }

        let (pid, joined, started) = try spawnInto(cgroup, command: command, environment: environment,
                                                   resetSignals: forwarder?.signals ?? [])
        forwarder?.attach(pid)
        var status: Int32 = 0
        while wait4(pid, &status, 0, nil) < 0 && errno == EINTR {}
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        guard joined else { throw .joinFailed(cgroup.path) }

        // Counters first: they go with the directory.
        let c = cgroup.counters()
        let cleanupProblem = cgroup.remove()
        removed = true

        let signalled = (status & 0x7f) != 0
        let exitCode: Int32? = signalled ? nil : (status >> 8) & 0xff
        let sig: Int32? = signalled ? status & 0x7f : nil
        let oomKilled = c.oomKillCount.map { $0 > 0 } ?? (sig == SIGKILL && c.failCount > 0)
        return MemLimitResult(command: command, backend: chosen.version, cgroup: cgroup.path, limitBytes: c.limitBytes,
                              peakBytes: c.peakBytes, failCount: c.failCount, oomKillCount: c.oomKillCount,
                              oomKilled: oomKilled, exitCode: exitCode, signal: sig, wallSeconds: seconds,
                              dropped: dropped, cleanupProblem: cleanupProblem)
    }

    /// The command must be inside the cgroup before it allocates anything. Forking in Swift and writing
    /// cgroup.procs in the child is unsafe (between fork and exec only async-signal-safe calls are allowed,
    /// and Swift code may allocate or take locks), so a tiny shell does it instead:
    ///
    ///     echo $$ > "$1" || exit 125; printf j >&3; exec 3>&-; shift; exec "$@"
    ///
    /// started with posix_spawn. It writes its own pid to cgroup.procs, says so on fd 3 (a socket back to
    /// us), closes fd 3 and replaces itself with the command, which thus starts inside the cgroup: every
    /// page it touches from its first instruction is charged there. (The shell's own few pages, touched
    /// before it joined, stay charged to our cgroup.) Paths and arguments travel as positional parameters,
    /// never inside the script, so nothing needs quoting. The socket tells a failed join (exit 125 without
    /// the byte) from the command's own exit status 125.
    ///
    /// Returns the pid, whether the child joined, and the start time (uptime nanoseconds).
    private static func spawnInto(_ cgroup: Cgroup, command: [String], environment: [String: String],
                                  resetSignals: [Int32]) throws(MemLimitError) -> (pid_t, Bool, UInt64) {
        // A socket pair rather than a pipe: Swift's Glibc module lacks pipe2, and both ends must be
        // close-on-exec from the start, or a command spawned meanwhile by another thread would inherit the
        // write end and hold our read open until it exits.
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw .spawn("the command", "socketpair: \(errnoText())")
        }
        // Both ends moved to 10 and above so that dup2(write end, 3) never meets fd 3 itself (a no-op that
        // would leave close-on-exec set).
        let readEnd = fcntl(fds[0], F_DUPFD_CLOEXEC, 10), writeEnd = fcntl(fds[1], F_DUPFD_CLOEXEC, 10)
        close(fds[0]); close(fds[1])
        var readOpen = true
        defer { if readOpen { close(readEnd) } }
        guard readEnd >= 0, writeEnd >= 0 else {
            if writeEnd >= 0 { close(writeEnd) }
            throw .spawn("the command", "fcntl: \(errnoText())")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 3)

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        // An empty signal mask: Swift's threads may block signals, and a blocked mask survives exec.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK)
        if !resetSignals.isEmpty {
            // Signals we ignore while forwarding them would stay ignored across exec; the child gets defaults.
            var set = sigset_t()
            sigemptyset(&set)
            for s in resetSignals { sigaddset(&set, s) }
            posix_spawnattr_setsigdefault(&attr, &set)
            flags |= Int32(POSIX_SPAWN_SETSIGDEF)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let script = #"echo $$ > "$1" || exit 125; printf j >&3; exec 3>&-; shift; exec "$@""#
        let arguments = ["sh", "-c", script, "memlimit", cgroup.procsFile] + command
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }

        let started = DispatchTime.now().uptimeNanoseconds
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp)
        close(writeEnd)
        guard rc == 0 else { throw .spawn("/bin/sh", errnoText(rc)) }

        // Until the shell closes fd 3 (just before exec) or exits.
        var joined = false, byte: UInt8 = 0
        while true {
            let n = read(readEnd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n == 1 && byte == UInt8(ascii: "j") { joined = true; continue }
            break
        }
        close(readEnd)
        readOpen = false
        return (pid, joined, started)
    }
}

/// Passes SIGINT, SIGTERM and SIGHUP on to the child while it runs. The signals are ignored by this process
/// meanwhile (their dispositions are restored by `stop`) and seen through dispatch sources, whose handlers
/// run on a queue, not in signal context, so they may take a lock. A signal that comes before the child's
/// pid is known is kept and sent as soon as it is.
///
/// From a terminal, ^C reaches both this process and the child (same process group), so the child sees
/// SIGINT twice; programs that exit on the first are unaffected. A `kill` of memlimit alone reaches the
/// child only through this.
final class SignalForwarder: @unchecked Sendable {
    let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]
    private let lock = NSLock()
    private var pid: pid_t = 0
    private var pending: [Int32] = []
    private var sources: [DispatchSourceSignal] = []
    private var previous: [(Int32, sighandler_t?)] = []

    init() {
        let queue = DispatchQueue(label: "memlimit.signals")
        for s in signals {
            previous.append((s, Glibc.signal(s, SIG_IGN)))
            let source = DispatchSource.makeSignalSource(signal: s, queue: queue)
            source.setEventHandler { [weak self] in self?.deliver(s) }
            source.resume()
            sources.append(source)
        }
    }

    private func deliver(_ s: Int32) {
        lock.lock(); defer { lock.unlock() }
        if pid > 0 { kill(pid, s) } else { pending.append(s) }
    }

    func attach(_ child: pid_t) {
        lock.lock(); defer { lock.unlock() }
        pid = child
        for s in pending { kill(child, s) }
        pending = []
    }

    func stop() {
        lock.lock()
        pid = 0
        lock.unlock()
        sources.forEach { $0.cancel() }
        for (s, h) in previous { Glibc.signal(s, h) }
    }
}
