import MoEFormats
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which cgroup interface holds the memory controller.
public enum CgroupVersion: String, Sendable, Codable {
    case v1, v2
}

/// A place where memory cgroups can be made, found by `MemoryLimit.probe()`.
public struct Backend: Sendable, CustomStringConvertible {
    public let version: CgroupVersion
    /// The directory under which each run makes its own cgroup (v1: the caller's own memory cgroup, so that
    /// every limit above it still holds the child; v2: the nearest ancestor with `memory` in its
    /// cgroup.subtree_control, or the root after enabling it there).
    public let parent: String
    /// True when swap is charged against the limit too (v1 `memory.memsw.*`, v2 `memory.swap.max`), so the
    /// child cannot escape the limit by swapping.
    public let swapLimited: Bool
    /// True when /proc/swaps lists an active swap area.
    public let swapActive: Bool
    /// The smallest memory limit (bytes) set on `parent` or above it, nil when none: the child is held by it too,
    /// and a larger limit asked of memlimit cannot be reached.
    public let ancestorLimitBytes: Int?

    public var description: String {
        var s = "cgroup \(version.rawValue) memory controller; cgroups are made under \(parent)"
        if swapActive { s += swapLimited ? "; swap is active and counted against the limit" : "; WARNING: swap is active and NOT counted (the child may swap past the limit)" }
        if let a = ancestorLimitBytes { s += "; an enclosing cgroup is limited to \(ByteSize.format(a))" }
        return s
    }
}

/// Why no memory cgroup can be made: one reason per hierarchy tried.
public struct Unavailable: Error, Sendable, CustomStringConvertible {
    public let reasons: [String]
    public var description: String { reasons.joined(separator: "; ") }
}

// MARK: - Files under /sys/fs/cgroup and /proc

/// cgroup files must be written with one write(2) on a plain open (no temporary file and rename, as
/// Foundation's writers do), and the kernel's refusal comes back as errno from that write.
enum SysFile {
    static func write(_ path: String, _ text: String) throws(MemLimitError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cgroup("cannot open \(path)", errnoText()) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw .cgroup("cannot write '\(text)' to \(path)", n < 0 ? errnoText() : "short write") }
    }

    /// The whole file as text, nil when it cannot be read. Files under /proc and /sys report a size of 0 or
    /// 4096 whatever they hold, so this reads until end of file.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? String(decoding: out, as: UTF8.self) : nil }
            out += buffer[..<n]
        }
    }

    /// A file holding one integer (bytes or a count); "max" (v2, no limit) reads as nil.
    static func int(_ path: String) -> Int? {
        read(path).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// `key value` lines (memory.stat, memory.events, memory.oom_control) as a dictionary.
    static func keyed(_ path: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for line in (read(path) ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let v = Int(f[1]) { out[String(f[0])] = v }
        }
        return out
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// Limits at or above this (bytes) mean "no limit": v1 reports PAGE_COUNTER_MAX pages (9223372036854771712).
let unlimitedBytes = 1 << 62

/// One line of /proc/self/mountinfo, the fields that matter here.
struct Mount {
    let root: String        // the path inside the hierarchy that is mounted here
    let mountPoint: String
    let fsType: String
    let superOptions: [String]

    static func all() -> [Mount] {
        (SysFile.read("/proc/self/mountinfo") ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard let dash = f.firstIndex(of: "-"), dash >= 6, f.count >= dash + 4 else { return nil }
            return Mount(root: unescape(f[3]), mountPoint: unescape(f[4]), fsType: f[dash + 1],
                         superOptions: f[dash + 3].split(separator: ",").map(String.init))
        }
    }

    /// mountinfo writes space, tab, newline and backslash in paths as \ooo (octal).
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8](), bytes = Array(s.utf8), i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v); i += 4
            } else {
                out.append(bytes[i]); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The directory of this process's own cgroup in this hierarchy, from the /proc/self/cgroup path (which is
    /// relative to the hierarchy's root, or to the cgroup namespace's root); the mount point when the path
    /// does not lie under this mount.
    func ownDirectory(hierarchyPath: String) -> String {
        var rel = hierarchyPath
        if root != "/" {
            guard rel == root || rel.hasPrefix(root + "/") else { return mountPoint }
            rel = String(rel.dropFirst(root.count))
        }
        let dir = rel == "/" || rel.isEmpty ? mountPoint : mountPoint + rel
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) && isDir.boolValue ? dir : mountPoint
    }
}

/// /proc/self/cgroup: `4:memory:/path` (v1) and `0::/path` (v2), controller list → path.
func ownCgroupPaths() -> (v1: String?, v2: String?) {
    var v1: String?, v2: String?
    for line in (SysFile.read("/proc/self/cgroup") ?? "").split(separator: "\n") {
        let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard f.count == 3 else { continue }
        if f[0] == "0" && f[1].isEmpty { v2 = f[2] }
        if f[1].split(separator: ",").contains("memory") { v1 = f[2] }
    }
    return (v1, v2)
}

func swapIsActive() -> Bool {
    // The first line of /proc/swaps is a header; every further line is an active swap area.
    (SysFile.read("/proc/swaps") ?? "").split(separator: "\n").count > 1
}

/// Names made unique within this process: swiftmoe-memlimit-<pid>-<n>.
final class NameCounter: @unchecked Sendable {
    static let shared = NameCounter()
    private let lock = NSLock()
    private var next = 0
    func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next }
}

// MARK: - Probing

extension MemoryLimit {
    /// Finds where a memory cgroup can be made, trying cgroup v2 (where the memory controller is enabled
    /// in cgroup.controllers) and then the v1 memory hierarchy. Each candidate is tested for real: a cgroup
    /// is made, limited and removed again, so a success here means `run` can work.
    public static func probe() -> Result<Backend, Unavailable> {
        let mounts = Mount.all(), own = ownCgroupPaths(), swap = swapIsActive()
        var reasons: [String] = []

        if let m = mounts.first(where: { $0.fsType == "cgroup2" }) {
            switch probeV2(m, own: own.v2 ?? "/", swapActive: swap) {
            case let .success(b): return .success(b)
            case let .failure(why): reasons.append("cgroup v2 at \(m.mountPoint): \(why)")
            }
        } else {
            reasons.append("no cgroup2 file system mounted")
        }
        if let m = mounts.first(where: { $0.fsType == "cgroup" && $0.superOptions.contains("memory") }) {
            switch probeV1(m, own: own.v1 ?? "/", swapActive: swap) {
            case let .success(b): return .success(b)
            case let .failure(why): reasons.append("cgroup v1 memory at \(m.mountPoint): \(why)")
            }
        } else {
            reasons.append("no cgroup v1 memory hierarchy mounted")
        }
        return .failure(Unavailable(reasons: reasons))
    }

    /// The probe's result, computed once per process (tests ask it in their traits).
    public static let probed: Result<Backend, Unavailable> = probe()
    public static var available: Bool { (try? probed.get()) != nil }
    /// Why no cgroup can be made here, "" when one can.
    public static var unavailableReason: String {
        if case let .failure(u) = probed { return u.description }
        return ""
    }

    static func probeV1(_ m: Mount, own: String, swapActive: Bool) -> Result<Backend, StringError> {
        let parent = m.ownDirectory(hierarchyPath: own)
        let backend = Backend(version: .v1, parent: parent,
                              swapLimited: SysFile.exists(parent + "/memory.memsw.limit_in_bytes"),
                              swapActive: swapActive,
                              ancestorLimitBytes: ancestorLimit(from: parent, to: m.mountPoint, file: "memory.limit_in_bytes"))
        return trial(backend)
    }

    static func probeV2(_ m: Mount, own: String, swapActive: Bool) -> Result<Backend, StringError> {
        let controllers = (SysFile.read(m.mountPoint + "/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace)
        guard controllers.contains("memory") else {
            return .failure(StringError("the memory controller is not in cgroup.controllers"
                + (controllers.isEmpty ? " (it is empty: the controllers are bound to v1 hierarchies)" : " ('\(controllers.joined(separator: " "))')")))
        }
        // A v2 cgroup that holds processes cannot hand controllers to children ("no internal processes"),
        // so the run's cgroup goes under the nearest ancestor of our own cgroup that already enables
        // `memory` for its children; failing that, under the root, which is exempt from that rule.
        let ownDir = m.ownDirectory(hierarchyPath: own)
        var dir = ownDir == m.mountPoint ? m.mountPoint : (ownDir as NSString).deletingLastPathComponent
        var parent: String?
        while true {
            let sub = (SysFile.read(dir + "/cgroup.subtree_control") ?? "").split(whereSeparator: \.isWhitespace)
            if sub.contains("memory") { parent = dir; break }
            if dir == m.mountPoint || dir.count <= m.mountPoint.count { break }
            dir = (dir as NSString).deletingLastPathComponent
        }
        if parent == nil {
            do { try SysFile.write(m.mountPoint + "/cgroup.subtree_control", "+memory") } catch {
                return .failure(StringError("no cgroup above ours enables memory for its children, and enabling it at the root failed: \(error)"))
            }
            parent = m.mountPoint
        }
        let p = parent!
        let backend = Backend(version: .v2, parent: p, swapLimited: true, swapActive: swapActive,
                              ancestorLimitBytes: ancestorLimit(from: p, to: m.mountPoint, file: "memory.max"))
        return trial(backend)
    }

    /// Makes, limits and removes a cgroup under the backend's parent; the swap flag is taken from what the
    /// new cgroup offers (v2 memory.swap.max exists only with swap accounting).
    static func trial(_ backend: Backend) -> Result<Backend, StringError> {
        do {
            let cg = try Cgroup.make(backend, limitBytes: 64 << 20, purpose: "probe")
            let swapLimited = backend.version == .v1 ? backend.swapLimited : SysFile.exists(cg.path + "/memory.swap.max")
            _ = cg.remove()
            return .success(Backend(version: backend.version, parent: backend.parent, swapLimited: swapLimited,
                                    swapActive: backend.swapActive, ancestorLimitBytes: backend.ancestorLimitBytes))
        } catch {
            var why = error.description
            if geteuid() != 0 { why += " (not running as root)" }
            return .failure(StringError(why))
        }
    }

    /// The smallest limit in `file` from `dir` up to `top`, nil when none is set.
    static func ancestorLimit(from dir: String, to top: String, file: String) -> Int? {
        var d = dir, smallest: Int?
        while true {
            if let v = SysFile.int(d + "/" + file), v < unlimitedBytes { smallest = min(smallest ?? v, v) }
            if d == top || d.count <= top.count { break }
            d = (d as NSString).deletingLastPathComponent
        }
        return smallest
    }
}

struct StringError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

// MARK: - One cgroup

/// The counters of a cgroup after its run, bytes and counts.
struct Counters {
    var limitBytes: Int
    var peakBytes: Int?
    var failCount: Int
    var oomKillCount: Int?
}

/// A cgroup made for one run: a fresh directory under the backend's parent, limited.
struct Cgroup {
    let backend: Backend
    let path: String

    /// Makes `<parent>/swiftmoe-memlimit-<pid>-<n>` and limits it to `limitBytes` of memory (anonymous
    /// memory, page cache and the kernel memory charged with them) with swap held to the same total (v1) or
    /// to none (v2). On any failure the directory is removed again before the error is thrown.
    static func make(_ backend: Backend, limitBytes: Int, purpose: String = "") throws(MemLimitError) -> Cgroup {
        var path = ""
        while true {
            path = "\(backend.parent)/swiftmoe-memlimit\(purpose.isEmpty ? "" : "-" + purpose)-\(getpid())-\(NameCounter.shared.take())"
            if mkdir(path, 0o755) == 0 { break }
            if errno != EEXIST { throw .cgroup("cannot make the cgroup \(path)", errnoText()) }
        }
        let cg = Cgroup(backend: backend, path: path)
        do {
            try cg.limit(limitBytes)
        } catch {
            _ = cg.remove()
            throw error
        }
        return cg
    }

    private func limit(_ bytes: Int) throws(MemLimitError) {
        switch backend.version {
        case .v1:
            // A new cgroup starts with both limits unlimited. memory.memsw.limit_in_bytes (memory + swap)
            // must never be below memory.limit_in_bytes, so the memory limit is lowered first, then memsw:
            // memory + swap ≤ limit + one page, so swapping cannot make room.
            // Why one page above and not equal: the kernel charges memsw before memory, so with equal limits
            // every failed charge lands on memsw, and recent kernels (6.18 here) no longer count failures
            // on memsw (memory.memsw.failcnt stays 0) — the fail count would always read 0. One page of
            // slack lets the memory counter hit first and memory.failcnt count; swap can add one page at most.
            try SysFile.write(path + "/memory.limit_in_bytes", String(bytes))
            if SysFile.exists(path + "/memory.memsw.limit_in_bytes") {
                let page = Int(sysconf(Int32(_SC_PAGESIZE)))
                try SysFile.write(path + "/memory.memsw.limit_in_bytes", String(bytes + page))
            }
            // v1 copies oom_kill_disable from the parent; with it set, a child at the limit would hang
            // instead of being killed, so it is cleared.
            if SysFile.keyed(path + "/memory.oom_control")["oom_kill_disable"] == 1 {
                try SysFile.write(path + "/memory.oom_control", "0")
            }
        case .v2:
            try SysFile.write(path + "/memory.max", String(bytes))
            if SysFile.exists(path + "/memory.swap.max") { try SysFile.write(path + "/memory.swap.max", "0") }
        }
    }

    /// The file a process writes its pid to, to join.
    var procsFile: String { path + "/cgroup.procs" }

    func counters() -> Counters {
        switch backend.version {
        case .v1:
            // With memsw limited to the same value, a charge usually fails on memsw first and only
            // memory.memsw.failcnt counts it; one failed charge increments one of the two, so they add.
            let fails = (SysFile.int(path + "/memory.failcnt") ?? 0) + (SysFile.int(path + "/memory.memsw.failcnt") ?? 0)
            return Counters(limitBytes: SysFile.int(path + "/memory.limit_in_bytes") ?? 0,
                            peakBytes: SysFile.int(path + "/memory.max_usage_in_bytes"),
                            failCount: fails,
                            // `oom_kill` in memory.oom_control exists since Linux 4.13.
                            oomKillCount: SysFile.keyed(path + "/memory.oom_control")["oom_kill"])
        case .v2:
            let events = SysFile.keyed(path + "/memory.events")
            return Counters(limitBytes: SysFile.int(path + "/memory.max") ?? 0,
                            // memory.peak exists since Linux 5.19.
                            peakBytes: SysFile.int(path + "/memory.peak"),
                            // `max`: times usage was about to go over memory.max (v2 has no failcnt).
                            failCount: events["max"] ?? 0,
                            oomKillCount: events["oom_kill"])
        }
    }

    /// Removes the directory. A cgroup with processes in it cannot be removed, so processes the command
    /// left behind (started in the background, still running after it exited) are killed first; rmdir is
    /// retried for up to two seconds while the kernel lets them go. Returns nil, or why it stayed.
    func remove() -> String? {
        let deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
        while true {
            if rmdir(path) == 0 || errno == ENOENT { return nil }
            let why = errnoText()
            guard errno == EBUSY, DispatchTime.now().uptimeNanoseconds < deadline else {
                return "cannot remove the cgroup \(path): \(why)"
            }
            for pid in (SysFile.read(procsFile) ?? "").split(separator: "\n").compactMap({ pid_t($0) }) {
                kill(pid, SIGKILL)
            }
            usleep(10_000)
        }
    }
}
