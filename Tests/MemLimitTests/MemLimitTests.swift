import MoEFormats
import Foundation
@testable import MemLimit
import Testing

/// Runs under a real memory cgroup. Where none can be made these are skipped, with the probe's reason
/// shown, never passed.
@Suite(.enabled(if: MemoryLimit.available, Support.noCgroup))
struct LimitedRunTests {
    @Test("64 MiB touched under a 256 MiB limit: exits 0, peak between 64 and 256 MiB",
          .enabled(if: Support.dd != nil, "dd not found"))
    func allocationWithinLimit() throws {
        let r = try MemoryLimit.run([Support.dd!, "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1", "status=none"],
                                    limitBytes: 256 << 20)
        #expect(r.exitCode == 0 && r.signal == nil, "status \(r.status)")
        #expect(!r.oomKilled)
        #expect(r.oomKillCount == 0)
        let peak = try #require(r.peakBytes)
        #expect(peak >= 64 << 20, "peak \(peak)")
        #expect(peak < 256 << 20, "peak \(peak)")
        Support.expectCleanedUp(r, limit: 256 << 20)
    }

    @Test("512 MiB touched under a 128 MiB limit: OOM-killed, and the result says so",
          .enabled(if: Support.dd != nil, "dd not found"))
    func allocationOverLimit() throws {
        let r = try MemoryLimit.run([Support.dd!, "if=/dev/zero", "of=/dev/null", "bs=512M", "count=1", "status=none"],
                                    limitBytes: 128 << 20)
        #expect(r.signal == SIGKILL, "status \(r.status)")
        #expect(r.status == 137)
        #expect(r.oomKilled)
        #expect(r.failCount > 0 || (r.oomKillCount ?? 0) > 0)
        #expect(r.failCount > 0, "fail count should record the charges that hit the limit")
        let peak = try #require(r.peakBytes)
        #expect(peak <= 128 << 20, "peak \(peak)")
        Support.expectCleanedUp(r, limit: 128 << 20)
    }

    /// Page cache is charged to the cgroup (the peak shows it: the file was dropped first, so the child's
    /// reads bring it in) and is reclaimable, so reading far more than the limit is not an OOM.
    @Test("reading a dropped 300 MiB file under 128 MiB: page cache is charged, reclaimed, not killed",
          .enabled(if: Support.diskScratch != nil, "the temporary folder is on tmpfs, whose pages cannot be dropped"))
    func pageCacheIsChargedAndReclaimed() throws {
        let path = Support.diskScratch! + "/memlimit-pagecache-\(getpid())-\(UUID().uuidString).bin"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let chunk = [UInt8](repeating: 0x5a, count: 4 << 20)
        for _ in 0..<75 { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }   // 300 MiB
        close(fd)

        let r = try MemoryLimit.run(["sh", "-c", #"cat "$0" > /dev/null"#, path], limitBytes: 128 << 20,
                                    dropFromPageCache: [path])
        #expect(r.exitCode == 0, "status \(r.status)")
        #expect(!r.oomKilled)
        let peak = try #require(r.peakBytes)
        #expect(peak <= 128 << 20, "peak \(peak)")
        #expect(peak >= 64 << 20, "peak \(peak): the file's pages should have been charged here")
        let d = try #require(r.dropped.first)
        #expect(d.sizeBytes == 300 << 20)
        #expect(d.residentAfterBytes < 8 << 20, "\(d.residentAfterBytes) bytes stayed cached after the drop")
        Support.expectCleanedUp(r, limit: 128 << 20)
    }

    @Test("the cgroup is removed even when the command leaves a process behind")
    func strayProcessIsCleanedUp() throws {
        let start = Date()
        let r = try MemoryLimit.run(["sh", "-c", "sleep 30 & exit 4"], limitBytes: 16 << 20)
        #expect(r.exitCode == 4)
        Support.expectCleanedUp(r, limit: 16 << 20)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("exit codes and signals pass through; a missing command is the shell's 127")
    func statusPassesThrough() throws {
        let a = try MemoryLimit.run(["sh", "-c", "exit 125"], limitBytes: 16 << 20)   // 125 is also the join-failure code
        #expect(a.exitCode == 125)
        let b = try MemoryLimit.run(["sh", "-c", "kill -TERM $$"], limitBytes: 16 << 20)
        #expect(b.signal == SIGTERM && b.status == 143 && !b.oomKilled)
        let c = try MemoryLimit.run(["memlimit-no-such-command-\(getpid())"], limitBytes: 16 << 20)
        #expect(c.exitCode == 127)
        for r in [a, b, c] { Support.expectCleanedUp(r, limit: 16 << 20) }
    }

    @Test("a file to drop that does not exist is an error, and no cgroup is left")
    func missingDropFile() throws {
        #expect(throws: MemLimitError.dropFile("/nonexistent/model.gguf", "No such file or directory")) {
            try MemoryLimit.run(["true"], limitBytes: 16 << 20, dropFromPageCache: ["/nonexistent/model.gguf"])
        }
    }

    @Test("the memlimit binary: child output, then the summary on stderr and JSON on stdout",
          .enabled(if: CLI.built, "memlimit binary not built beside the tests"))
    func binaryReports() throws {
        let r = try CLI.run(["--limit", "64MiB", "--json", "--", "sh", "-c", "echo hello; echo oops >&2; exit 3"])
        #expect(r.status == 3, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0] == "hello", "\(r.stdout)")
        let result = try JSONDecoder().decode(MemLimitResult.self, from: Data(lines.last!.utf8))
        #expect(result.exitCode == 3 && result.limitBytes == 64 << 20 && result.peakBytes != nil)
        #expect(r.stderr.hasPrefix("oops\nmemlimit: limit 64.00 MiB, peak "), "\(r.stderr)")
        #expect(r.stderr.contains("OOM-killed no, exit 3, wall "), "\(r.stderr)")
    }

    @Test("the memlimit binary as an unprivileged user: says why, exits 125",
          .enabled(if: CLI.built && getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root, setpriv and the memlimit binary"))
    func binaryUnprivileged() throws {
        let drop = ["--reuid=65534", "--regid=65534", "--clear-groups", CLI.binary]
        let probe = try CLI.run(drop + ["--probe"], executable: "/usr/bin/setpriv")
        #expect(probe.status == 125)
        #expect(probe.stdout.hasPrefix("memlimit: unavailable: ") && probe.stdout.contains("not running as root"), "\(probe.stdout)")
        let run = try CLI.run(drop + ["--limit", "64MiB", "--", "true"], executable: "/usr/bin/setpriv")
        #expect(run.status == 125)
        #expect(run.stderr.hasPrefix("memlimit: error: no memory cgroup can be made: "), "\(run.stderr)")
        #expect(run.stderr.filter { $0 == "\n" }.count == 1, "\(run.stderr)")
    }
}

/// Input checks: no cgroup needed, they run everywhere.
struct InputTests {
    @Test("sizes", arguments: [
        ("1.5GiB", 1_610_612_736), ("1536MiB", 1_610_612_736), ("1GB", 1_000_000_000), ("1G", 1 << 30),
        ("1g", 1 << 30), ("4096", 4096), ("4096B", 4096), (" 2 KiB ", 2048), ("0.5K", 512), ("1.25MB", 1_250_000),
        ("3T", 3 << 40), ("1.000000000000001GiB", 1 << 30), (".5GiB", 1 << 29),
    ])
    func sizes(_ text: String, _ bytes: Int) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test("bad sizes: one line naming the input and the problem", arguments: [
        ("0", "must be positive"), ("0GiB", "must be positive"), ("-5MiB", "must be positive"), ("", "empty size"),
        ("1.5XB", "unknown unit 'XB'"), ("12 parsecs", "unknown unit"), ("GiB", "expected a number"),
        ("1..5G", "expected a number"), (".G", "expected a number"), ("1.5", "a byte count must be whole"),
        ("99999999999T", "too large"), ("nan", "unknown unit"),
    ])
    func badSizes(_ text: String, _ phrase: String) {
        do {
            _ = try ByteSize.parse(text)
            Issue.record("'\(text)' parsed")
        } catch {
            #expect(error.description.hasPrefix("invalid size '\(text)': "), "\(error)")
            #expect(error.description.contains(phrase), "'\(error)' should say '\(phrase)'")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test("formatting")
    func format() {
        #expect(ByteSize.format(512) == "512 B")
        #expect(ByteSize.format(1_610_612_736) == "1.50 GiB")
        #expect(ByteSize.format(640 << 10) == "640.00 KiB")
    }

    @Test("run refuses an empty command and a limit below 1 MiB before touching any cgroup")
    func runInputErrors() {
        #expect(throws: MemLimitError.emptyCommand) { try MemoryLimit.run([], limitBytes: 1 << 30) }
        #expect(throws: MemLimitError.emptyCommand) { try MemoryLimit.run([""], limitBytes: 1 << 30) }
        #expect(throws: MemLimitError.limitTooSmall(0)) { try MemoryLimit.run(["true"], limitBytes: 0) }
        #expect(throws: MemLimitError.limitTooSmall(-1)) { try MemoryLimit.run(["true"], limitBytes: -1) }
    }

    /// memlimit's own usage errors: status 64, nothing on stdout, one `memlimit: error:` line on stderr.
    @Test("a cgroup that cannot be set up: one error line, and the half-made directory is removed")
    func setupFailureCleansUp() throws {
        // A plain folder as the "parent": mkdir works, writing memory.limit_in_bytes does not.
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("memlimit-notcgroup-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let fake = Backend(version: .v1, parent: parent, swapLimited: false, swapActive: false, ancestorLimitBytes: nil)
        do {
            _ = try MemoryLimit.run(["true"], limitBytes: 16 << 20, backend: fake)
            Issue.record("ran outside any cgroup")
        } catch {
            #expect(error.description.hasPrefix("cannot open \(parent)/swiftmoe-memlimit-"), "\(error)")
            #expect(error.description.hasSuffix("/memory.limit_in_bytes: No such file or directory"), "\(error)")
            #expect(!error.isUsageError)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).isEmpty)
    }

    @Test("the memlimit binary on bad input", .enabled(if: CLI.built, "memlimit binary not built beside the tests"),
          arguments: [
              (["--limit", "0", "--", "true"], "invalid size '0': a size must be positive"),
              (["--limit", "-5MiB", "--", "true"], "invalid size '-5MiB': a size must be positive"),
              (["--limit", "1.5XB", "--", "true"], "unknown unit 'XB'"),
              (["--limit", "512K", "--", "true"], "below the minimum 1.00 MiB"),
              (["--limit", "1GiB"], "no command given"),
              (["--limit", "1GiB", "--"], "no command given"),
              (["--", "true"], "missing --limit"),
              (["--limit", "1GiB", "true"], "Unexpected argument 'true' (put the command after --)"),
              (["--limit", "1GiB", "--bogus", "--", "true"], "Unknown option '--bogus'"),
          ])
    func binaryBadInput(_ args: [String], _ phrase: String) throws {
        let r = try CLI.run(args)
        #expect(r.status == 64, "\(args): status \(r.status), \(r.stderr)")
        #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
        #expect(r.stderr.hasPrefix("memlimit: error: ") && r.stderr.filter { $0 == "\n" }.count == 1, "\(args): \(r.stderr)")
        #expect(r.stderr.contains(phrase), "\(args): '\(r.stderr)' should say '\(phrase)'")
    }

    @Test("--help teaches: sizes, --drop, an example with moe generate", .enabled(if: CLI.built, "memlimit binary not built beside the tests"))
    func help() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        for phrase in ["G = GiB", "--drop", "moe generate", "posix_fadvise", "125", "--probe"] {
            #expect(r.stdout.contains(phrase), "help lacks '\(phrase)'")
        }
    }
}
