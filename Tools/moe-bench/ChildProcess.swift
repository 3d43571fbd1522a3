import Foundation
import MemLimit
#if canImport(Glibc)
import Glibc
#endif

/// A finished child process: its exit status, what it printed on stdout and stderr, its peak resident
/// memory (the kernel's ru_maxrss of that child alone) and its wall time.
struct ChildResult {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Bytes; 0 under a memory limit (MemoryLimit.run reaps the child without its rusage).
    let peakRSSBytes: Int
    let seconds: Double
    /// Under a memory limit: what the cgroup saw.
    var memory: CgroupFigures? = nil

    /// Killed by the OOM killer of its cgroup, or (without one) by SIGKILL.
    var killed: Bool { memory?.oomKilled ?? (status == 128 + SIGKILL) }
}

/// A memory cgroup for one child: its limit (bytes) and the files dropped from the page cache first.
struct MemoryCap {
    let limitBytes: Int
    let dropFromPageCache: [String]
}

enum ChildProcess {
    /// Runs `arguments[0]` (an absolute path) with the rest as its arguments, stdout and stderr captured
    /// to temporary files (no pipes, so a chatty child can never block), and waits for it with wait4 so
    /// that the peak RSS is the child's own, not the benchmark's.
    ///
    /// With a `cap`, the child runs in its own memory cgroup instead (`MemoryLimit.run`, which lets the
    /// child inherit our stdout and stderr): a shell inside the cgroup redirects them to the files and
    /// execs the command, so the cgroup holds the command alone. Throws when no cgroup can be made
    /// (never runs unlimited instead); the child's own failure or OOM kill is in the result.
    static func run(_ arguments: [String], environment: [String: String] = [:], cap: MemoryCap? = nil) throws -> ChildResult {
        let tmp = FileManager.default.temporaryDirectory.path
        let outPath = "\(tmp)/moe-bench-\(getpid())-out.txt", errPath = "\(tmp)/moe-bench-\(getpid())-err.txt"
        defer { unlink(outPath); unlink(errPath) }
        let read = { (p: String) in (try? String(contentsOfFile: p, encoding: .utf8)) ?? "" }

        if let cap {
            let redirect = #"o=$1 e=$2; shift 2; exec "$@" >"$o" 2>"$e""#
            let r: MemLimitResult
            do {
                r = try MemoryLimit.run(["/bin/sh", "-c", redirect, "moe-bench", outPath, errPath] + arguments,
                                        limitBytes: cap.limitBytes, dropFromPageCache: cap.dropFromPageCache,
                                        environment: environment, forwardSignals: true)
            } catch {
                throw BenchError.memoryLimit(error.description)
            }
            if let s = r.signal, [SIGINT, SIGTERM, SIGHUP].contains(s) { throw BenchError.interrupted }
            return ChildResult(status: r.status, stdout: read(outPath), stderr: read(errPath), peakRSSBytes: 0,
                               seconds: r.wallSeconds, memory: CgroupFigures(r))
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = envStrings.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }

        let start = DispatchTime.now().uptimeNanoseconds
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        guard rc == 0 else { throw BenchError.spawn(arguments[0], String(cString: strerror(rc))) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        // Exit status: WIFEXITED ? WEXITSTATUS : 128 + signal, as a shell reports it.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return ChildResult(status: code, stdout: read(outPath), stderr: read(errPath),
                           peakRSSBytes: Int(usage.ru_maxrss) * 1024, seconds: seconds)
    }
}

enum BenchError: Error, CustomStringConvertible {
    case spawn(String, String)
    case childFailed(String, Int32, String)
    case badOutput(String, String)
    case missing(String)
    case memoryLimit(String)
    /// A server answered 503: its slots and queue were full.
    case refused
    case interrupted

    var description: String {
        switch self {
        case let .spawn(p, why): return "cannot start \(p): \(why)"
        case let .childFailed(what, code, err):
            let last = err.split(separator: "\n").last.map(String.init) ?? ""
            return "\(what) exited with status \(code): \(last.prefix(200))"
        case let .badOutput(what, why): return "\(what): unexpected output: \(why)"
        case let .missing(what): return what
        case let .memoryLimit(why): return "--memory-limit: \(why)"
        case .refused: return "refused (HTTP 503)"
        case .interrupted: return "interrupted"
        }
    }
}

/// What a run's memory cgroup saw, bytes (from MemLimitResult).
struct CgroupFigures: Codable {
    let limitBytes: Int
    /// High-water mark of the cgroup (anonymous memory and page cache charged to it); nil where unknown.
    let peakBytes: Int?
    /// Times a charge hit the limit (and reclaimed page cache); nonzero is not in itself a failure.
    let failCount: Int
    let oomKilled: Bool
    let wallSeconds: Double

    init(_ r: MemLimitResult) {
        limitBytes = r.limitBytes
        peakBytes = r.peakBytes
        failCount = r.failCount
        oomKilled = r.oomKilled
        wallSeconds = r.wallSeconds
    }

    enum CodingKeys: String, CodingKey {
        case limitBytes = "limit_bytes", peakBytes = "peak_bytes", failCount = "fail_count", oomKilled = "oom_killed"
        case wallSeconds = "wall_s"
    }
}
