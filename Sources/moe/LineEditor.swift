import Foundation

/// Reads the user's lines for `moe chat`. On a terminal it uses libedit (BSD-licensed; Debian's libedit2,
/// present on most systems) loaded at run time, so the build needs no headers and the binary runs without it:
/// arrow-key editing, Ctrl-A/E/K/U/W, history with ↑/↓ kept in a file between sessions. Without a terminal or
/// without libedit, a plain line read.
final class LineEditor {
    private typealias ReadlineFn = @convention(c) (UnsafePointer<CChar>?) -> UnsafeMutablePointer<CChar>?
    private typealias HistoryFn = @convention(c) (UnsafePointer<CChar>?) -> Int32
    private var readlineFn: ReadlineFn?
    private var addHistoryFn: HistoryFn?
    private var writeHistoryFn: HistoryFn?
    private let historyPath: String?

    /// `historyPath`: where history is read from and saved to (nil: none kept).
    init(historyPath: String?) {
        self.historyPath = historyPath
        guard isatty(0) != 0, isatty(1) != 0 else { return }
        for name in ["libedit.so.2", "libedit.so"] {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else { continue }
            guard let rl = dlsym(handle, "readline"), let add = dlsym(handle, "add_history") else { continue }
            readlineFn = unsafeBitCast(rl, to: ReadlineFn.self)
            addHistoryFn = unsafeBitCast(add, to: HistoryFn.self)
            if let write = dlsym(handle, "write_history") { writeHistoryFn = unsafeBitCast(write, to: HistoryFn.self) }
            if let historyPath, let read = dlsym(handle, "read_history") {
                _ = unsafeBitCast(read, to: HistoryFn.self)(historyPath)
            }
            break
        }
    }

    /// Whether lines are edited (libedit loaded on a terminal).
    var isEditing: Bool { readlineFn != nil }

    /// The next line without its newline; nil at end of input (Ctrl-D).
    func readLine(prompt: String) -> String? {
        guard let readlineFn else {
            FileHandle.standardOutput.write(Data(prompt.utf8))
            return Swift.readLine(strippingNewline: true)
        }
        guard let raw = prompt.withCString({ readlineFn($0) }) else { return nil }
        defer { free(raw) }
        let line = String(cString: raw)
        if !line.trimmingCharacters(in: .whitespaces).isEmpty {
            _ = addHistoryFn?(raw)
            if let historyPath { _ = writeHistoryFn?(historyPath) }
        }
        return line
    }
}
