import Foundation
import MemLimit
import Testing
import TestSupport

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
    static let tool = ToolBinary("memlimit")
    static var binary: String { tool.path }
    static var built: Bool { tool.built }

    /// Runs `executable` (the memlimit binary unless given) with `args`; stdin is /dev/null.
    static func run(_ args: [String], executable: String? = nil) throws -> ToolBinary.Result {
        try tool.run(args, executable: executable)
    }
}
