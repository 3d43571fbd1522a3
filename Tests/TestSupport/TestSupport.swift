import Foundation

/// What test targets share: where the reference data is, temporary folders, running the built tools.
/// (A library target, not a test target, so that several test targets can depend on it.)
public enum SharedData {
    /// `../shared` beside the package (env `MOE_SHARED` overrides), or nil when absent.
    public static let root: String? = {
        let root = ProcessInfo.processInfo.environment["MOE_SHARED"] ?? URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared").path
        return FileManager.default.fileExists(atPath: root + "/README.md") ? root : nil
    }()

    /// `../shared/models/tiny-qwen3moe` when it holds the checkpoint.
    public static let tiny: String? = root.map { $0 + "/models/tiny-qwen3moe" }
        .flatMap { FileManager.default.fileExists(atPath: $0 + "/config.json") ? $0 : nil }

    public static let skipMessage = "../shared/models/tiny-qwen3moe is absent"
}

/// A fresh folder under the temporary directory, removed by `cleanup()`.
public struct TempDir: Sendable {
    public let path: String
    public init(_ prefix: String = "swiftmoe-test") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    public func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    public func file(_ name: String) -> String { path + "/" + name }
}

/// Runs an executable product built beside the test bundle (`moe`, `moe-synth`, `moe-quantize`).
public struct ToolBinary: Sendable {
    public let name: String
    public init(_ name: String) { self.name = name }

    public var path: String {
        let products = Bundle.main.bundleURL.path.hasSuffix(".xctest")
            ? Bundle.main.bundleURL.deletingLastPathComponent()
            : URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [products, products.deletingLastPathComponent()] where FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path) {
            return dir.appendingPathComponent(name).path
        }
        return products.appendingPathComponent(name).path
    }

    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Whether the binary is there (tests that need it are skipped otherwise).
    public var built: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs it (or `executable`, e.g. a wrapper given this tool's path among `args`) to completion, stdin
    /// /dev/null; `whileRunning` is called with the process before waiting for it. Both pipes are drained at
    /// once, so that neither can fill and block the child.
    public func run(_ args: [String], executable: String? = nil, currentDirectory: URL? = nil,
                    whileRunning: (Process) -> Void = { _ in }) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable ?? path)
        p.arguments = args
        if let currentDirectory { p.currentDirectoryURL = currentDirectory }
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        whileRunning(p)
        let group = DispatchGroup()
        nonisolated(unsafe) var e = Data()
        DispatchQueue.global().async(group: group) { e = err.fileHandleForReading.readDataToEndOfFile() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}
