import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress on stderr: bytes done of the total, throughput and time left. On a terminal one line is
/// redrawn (at most 5 times a second); otherwise (a log file, a pipe) a plain line is printed every 10 s,
/// prefixed with the tool's name. Shared by the tools (moe-synth, moe-quantize).
public final class ProgressReporter {
    public let total: Int
    /// "moe-synth", printed before each plain line.
    public let tool: String
    /// The summary's verb: "wrote 3.74 GB in …", "read 13.3 GB in …".
    public let verb: String
    public private(set) var done = 0
    private let start = Date()
    private var lastPrint = Date.distantPast
    private let terminal = isatty(STDERR_FILENO) != 0

    public init(total: Int, tool: String, verb: String = "wrote") {
        self.total = total
        self.tool = tool
        self.verb = verb
    }

    /// Seconds since the reporter was made.
    public var elapsed: Double { Date().timeIntervalSince(start) }

    public func advance(_ bytes: Int) {
        done += bytes
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= (terminal ? 0.2 : 10) else { return }
        lastPrint = now
        emit(line(now), final: false)
    }

    public func finish() {
        let seconds = Date().timeIntervalSince(start)
        let rate = Double(done) / max(seconds, 1e-3) / 1e6
        emit("\(verb) \(Self.bytes(done)) in \(Self.duration(seconds)) (\(String(format: "%.0f", rate)) MB/s)", final: true)
    }

    private func line(_ now: Date) -> String {
        let seconds = now.timeIntervalSince(start)
        let rate = Double(done) / max(seconds, 1e-3) // bytes per second
        let left = rate > 0 ? Double(total - done) / rate : 0
        let percent = total > 0 ? 100 * Double(done) / Double(total) : 100
        return "\(Self.bytes(done)) / \(Self.bytes(total)) (\(String(format: "%.1f", percent))%)  "
            + "\(String(format: "%.0f", rate / 1e6)) MB/s  \(Self.duration(left)) left"
    }

    private func emit(_ text: String, final: Bool) {
        let out = terminal ? "\r\u{1B}[K" + text + (final ? "\n" : "") : tool + ": " + text + "\n"
        FileHandle.standardError.write(Data(out.utf8))
    }

    /// "3.73 GB", "512.0 MB" (decimal units).
    public static func bytes(_ n: Int) -> String {
        let d = Double(n)
        return d >= 1e9 ? String(format: "%.2f GB", d / 1e9) : String(format: "%.1f MB", d / 1e6)
    }

    /// "42s", "3m 07s", "1h 02m".
    public static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t < 60 { return "\(t)s" }
        if t < 3600 { return String(format: "%dm %02ds", t / 60, t % 60) }
        return String(format: "%dh %02dm", t / 3600, t % 3600 / 60)
    }
}

/// Ctrl-C (SIGINT) and SIGTERM: the first asks the writer to stop at its next chunk (it then removes the
/// partial output and exits); a second removes the partial output at once and exits with status 130.
public final class Interrupt: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    public init(cleaning partialPath: String, tool: String) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                if requested {
                    try? FileManager.default.removeItem(atPath: partialPath)
                    FileHandle.standardError.write(Data("\n\(tool): interrupted; removed \(partialPath)\n".utf8))
                    exit(130)
                }
                lock.withLock { flag = true }
            }
            source.resume()
            sources.append(source)
        }
    }

    public var requested: Bool { lock.withLock { flag } }

    /// Restores the default handlers (after the output is complete).
    public func stop() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
