import Foundation
import MemLimit
import Testing

enum Support {
    /// Shown on every skipped test when no memory cgroup can be made (not root, no memory controller, ...).
    static let noCgroup: Comment = "no memory cgroup can be made here, so nothing can be limited: \(MemoryLimit.unavailableReason)"

    /// dd is the allocating child: with bs=N it allocates an N-byte buffer and fills it from /dev/zero,
    /// touching every page (no python needed).
    static let dd: String? = ["/bin/dd", "/usr/bin/dd"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A folder for the page-cache test's file on a disk-backed file system: on tmpfs the file *is* its
    /// page cache (shared memory), which can neither be dropped nor reclaimed without swap.
    static let diskScratch: String? = {
        let tmp = FileManager.default.temporaryDirectory.path
        return fileSystemType(of: tmp) == "tmpfs" ? nil : tmp
    }()

    /// The type of the file system holding `path`: the longest mount point above it in /proc/self/mounts.
    static func fileSystemType(of path: String) -> String? {
        let real = (path as NSString).resolvingSymlinksInPath
        var best: (String, String)?
        for line in ((try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? "").split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 3 else { continue }
            let point = f[1]
            if real == point || real.hasPrefix(point == "/" ? "/" : point + "/"), point.count > (best?.0.count ?? -1) {
                best = (point, f[2])
            }
        }
        return best?.1
    }

    /// Expectations every completed run meets: its cgroup is gone and the limit is what was asked
    /// (page-aligned sizes are kept exactly).
    static func expectCleanedUp(_ r: MemLimitResult, limit: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.cleanupProblem == nil, "\(r.cleanupProblem ?? "")", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: r.cgroup), "\(r.cgroup) still exists", sourceLocation: sourceLocation)
        #expect(r.limitBytes == limit, sourceLocation: sourceLocation)
    }
}

/// Runs the built `memlimit` binary (beside the test bundle).
enum CLI {
    static var binary: String {
        let products = Bundle.main.bundleURL.path.hasSuffix(".xctest")
            ? Bundle.main.bundleURL.deletingLastPathComponent()
            : URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [products, products.deletingLastPathComponent()] where FileManager.default.fileExists(atPath: dir.appendingPathComponent("memlimit").path) {
            return dir.appendingPathComponent("memlimit").path
        }
        return products.appendingPathComponent("memlimit").path
    }

    static var built: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    /// Runs `executable` (the memlimit binary unless given) with `args`; stdin is /dev/null.
    static func run(_ args: [String], executable: String? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? binary)
        p.arguments = args
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Both pipes drained at once so that neither can fill and block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var e = Data()
        DispatchQueue.global().async(group: group) { e = err.fileHandleForReading.readDataToEndOfFile() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}
