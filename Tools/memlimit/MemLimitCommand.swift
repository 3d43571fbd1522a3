import MoEFormats
import ArgumentParser
import Foundation
import MemLimit
#if canImport(Glibc)
import Glibc
#endif

/// Exit statuses of memlimit itself; otherwise it exits with the command's status (128 + signal when a
/// signal ended it, as a shell reports it).
enum Status {
    /// Bad usage: an unparsable size, no command, an unknown option (ArgumentParser's EX_USAGE).
    static let usage: Int32 = 64
    /// The command could not be run under a limit: no memory cgroup can be made here, a cgroup file refused
    /// a write, a file to drop is missing. Same number as `env` and `timeout` use for their own failures.
    static let cannotRun: Int32 = 125
}

@main
struct MemLimitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memlimit",
        abstract: "Run a command under a memory limit (a memory cgroup) and report its peak memory.",
        usage: """
        memlimit --limit <size> [--drop <file> ...] [--json] -- <command> [<arguments> ...]
        memlimit --probe
        """,
        discussion: """
        The command runs in a fresh memory cgroup (cgroup v2 where the memory controller is enabled \
        there, else the v1 memory hierarchy, usually /sys/fs/cgroup/memory) limited to <size>. The \
        limit holds anonymous memory and page cache together (and the kernel memory charged with \
        them): reading a memory-mapped model counts, and when the total reaches the limit the kernel \
        first reclaims page cache, then OOM-kills. Swap is held to the same total (v1 memsw) or to \
        none (v2) where the kernel accounts it. Needs root (or a delegated cgroup); without one, \
        memlimit says why and exits 125 (memlimit --probe tells beforehand).

        --drop FILE drops FILE from the page cache first (posix_fadvise DONTNEED). Cached pages stay \
        charged to whichever cgroup first read them, so without the drop a model cached by an \
        earlier run would be read for free and not count against the limit.

        Sizes: a number with an optional unit, in any case. B (or none) = bytes; KiB, MiB, GiB, TiB = \
        powers of 1024; K, M, G, T mean the same (G = GiB, as ulimit and docker read them); KB, MB, \
        GB, TB = powers of 1000. A fraction needs a unit: 1.5GiB = 1536MiB = 1610612736 bytes. At \
        least 1 MiB.

        Afterwards one line goes to stderr: limit, peak (the cgroup's high-water mark), failcnt \
        (times a charge hit the limit; nonzero is normal when page cache had to be reclaimed), \
        whether the OOM killer struck, exit status, wall time. --json also prints the result as one \
        JSON object on stdout, after the command's own output.

        Exit status: the command's; 128 + N when signal N ended it (137 = SIGKILL, as after an OOM \
        kill); 125 when it could not be run under a limit; 64 on bad usage. SIGINT, SIGTERM and \
        SIGHUP sent to memlimit are passed on to the command.

        Examples:
          memlimit --probe
          M=models/olmoe-like-Q4_0.gguf
          memlimit --limit 2GiB --drop $M -- \\
            .build/release/moe generate -m $M -p "Once upon a time" -n 16
          memlimit --limit 1GiB --drop m.gguf --json -- cat m.gguf > /dev/null
          memlimit --limit 128MiB -- python3 -c 'b = bytearray(b"x") * (512 << 20)'
            (killed by the OOM killer: exit status 137)
        """
    )

    // .unconditional: "-5MiB" is taken as the value (and refused as negative), not as an unknown option.
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The memory limit: anonymous memory plus page cache.", valueName: "size"))
    var limit: String?

    @Option(name: .customLong("drop"), help: ArgumentHelp("Drop this file from the page cache before the run (repeatable).", valueName: "file"))
    var drop: [String] = []

    @Flag(name: .long, help: "Also print the result as one JSON object on stdout.")
    var json = false

    @Flag(name: .long, help: "Say which cgroup backend is usable here, or why none is, and exit (0 usable, 125 not).")
    var probe = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    /// Parses and runs; every failure of memlimit itself is one `memlimit: error: …` line on stderr.
    static func main() {
        let cmd: MemLimitCommand
        do {
            cmd = try parse()
        } catch {
            if exitCode(for: error) == .success {       // --help
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            var message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            if message.hasPrefix("Unexpected argument") { message += " (put the command after --)" }
            fail(message, Status.usage)
        }
        Glibc.exit(cmd.execute())
    }

    func execute() -> Int32 {
        if probe {
            switch MemoryLimit.probed {
            case let .success(b):
                print("memlimit: usable: \(b)")
                return 0
            case let .failure(u):
                print("memlimit: unavailable: \(u)")
                return Status.cannotRun
            }
        }
        var args = command
        if args.first == "--" { args.removeFirst() }
        guard let limitText = limit else { fail("missing --limit <size> (as --limit 1.5GiB)", Status.usage) }
        let bytes: Int
        do {
            bytes = try ByteSize.parse(limitText)
            guard bytes >= MemoryLimit.minimumLimitBytes else { throw MemLimitError.limitTooSmall(bytes) }
            guard !args.isEmpty else { throw MemLimitError.emptyCommand }
        } catch {
            fail("\(error)", Status.usage)
        }

        let backend: Backend
        switch MemoryLimit.probed {
        case let .success(b): backend = b
        case let .failure(u): fail(MemLimitError.unavailable(u.description).description, Status.cannotRun)
        }
        if backend.swapActive && !backend.swapLimited {
            warn("swap is active and not accounted in this cgroup; the command may swap past the limit")
        }
        if let a = backend.ancestorLimitBytes, a < bytes {
            warn("an enclosing cgroup is limited to \(ByteSize.format(a)), below the \(ByteSize.format(bytes)) asked; that limit acts first and its kills are not counted here")
        }

        let result: MemLimitResult
        do {
            result = try MemoryLimit.run(args, limitBytes: bytes, dropFromPageCache: drop, backend: backend, forwardSignals: true)
        } catch {
            fail("\(error)", error.isUsageError ? Status.usage : Status.cannotRun)
        }
        for d in result.dropped where d.residentAfterBytes > 0 {
            warn("\(ByteSize.format(d.residentAfterBytes)) of \(d.path) stayed in the page cache after the drop (mapped or dirty elsewhere); those pages were not charged to the command")
        }
        if let problem = result.cleanupProblem { warn(problem) }
        FileHandle.standardError.write(Data((Self.summary(result) + "\n").utf8))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(result) {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
        }
        return result.status
    }

    /// `memlimit: limit 1.00 GiB, peak 1023.87 MiB, failcnt 0, OOM-killed no, exit 0, wall 0.84 s (cgroup v1)`
    static func summary(_ r: MemLimitResult) -> String {
        let peak = r.peakBytes.map { ByteSize.format($0) } ?? "unknown"
        let oom = r.oomKilled ? "yes" + ((r.oomKillCount ?? 0) > 1 ? " (\(r.oomKillCount!) processes)" : "") : "no"
        let end = r.signal.map { "killed by signal \($0)\(signalName($0).map { " (\($0))" } ?? "")" } ?? "exit \(r.exitCode ?? 0)"
        return "memlimit: limit \(ByteSize.format(r.limitBytes)), peak \(peak), failcnt \(r.failCount), OOM-killed \(oom), "
            + "\(end), wall \(String(format: "%.2f", r.wallSeconds)) s (cgroup \(r.backend.rawValue))"
    }

    static func signalName(_ s: Int32) -> String? {
        [SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGHUP: "SIGHUP", SIGSEGV: "SIGSEGV",
         SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGPIPE: "SIGPIPE", SIGQUIT: "SIGQUIT"][s]
    }
}

func warn(_ s: String) { FileHandle.standardError.write(Data("memlimit: warning: \(s)\n".utf8)) }

/// Prints `memlimit: error: …` (one line) and exits with `code`.
func fail(_ s: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data("memlimit: error: \(s.replacingOccurrences(of: "\n", with: " "))\n".utf8))
    Glibc.exit(code)
}
