/// An incremental parser for one reply: feed it text pieces as they are generated, then call `finish()`.
///
/// Emitted text is final. A suffix that might be the start of a tag (`</thi`, `<tool_ca`) is held back until
/// the next piece decides it; a tool-call block is held until it closes (or, for formats whose calls run to the
/// end of the reply, until `finish()`). Whitespace at either end of the reasoning and of the content is held
/// back too, so that both come out trimmed exactly as `parse` trims them. Together these make the deltas add up
/// to `parse(fullText)` for every way of splitting the text.
public struct ChatStreamParser: Sendable {
    private var scanner: any ReplyScanner
    private var output = DeltaOutput()
    private var finished = false

    init(_ scanner: any ReplyScanner) { self.scanner = scanner }

    /// Takes the next piece of generated text; returns what can be emitted now (possibly nothing).
    public mutating func feed(_ piece: String) -> [ChatDelta] {
        guard !finished else { return [] }
        scanner.feed(Array(piece.utf8), final: false, output: &output)
        return output.take()
    }

    /// Ends the reply: flushes held-back text, closes or gives up on open blocks. Later calls return nothing.
    public mutating func finish() -> [ChatDelta] {
        guard !finished else { return [] }
        finished = true
        scanner.feed([], final: true, output: &output)
        return output.take()
    }
}

/// A format's incremental scanner. `feed` appends bytes and emits what is decided; with `final` it must decide
/// everything still held.
protocol ReplyScanner: Sendable {
    mutating func feed(_ bytes: [UInt8], final: Bool, output: inout DeltaOutput)
}

/// Collects deltas, trimming the reasoning and content channels as a whole (see `TrimmedChannel`).
struct DeltaOutput: Sendable {
    private var deltas: [ChatDelta] = []
    private var reasoningChannel = TrimmedChannel()
    private var contentChannel = TrimmedChannel()

    mutating func reasoning<C: BidirectionalCollection<UInt8>>(_ bytes: C) {
        if let text = reasoningChannel.add(bytes) { deltas.append(.reasoning(text)) }
    }

    mutating func content<C: BidirectionalCollection<UInt8>>(_ bytes: C) {
        if let text = contentChannel.add(bytes) { deltas.append(.content(text)) }
    }

    mutating func toolCalls(_ calls: [ToolCall]) {
        deltas += calls.map(ChatDelta.toolCall)
    }

    mutating func take() -> [ChatDelta] {
        defer { deltas = [] }
        return deltas
    }
}

/// One text channel whose total output is the trimmed concatenation of everything added: leading whitespace is
/// dropped until the first visible byte, trailing whitespace is held until something visible follows it (and is
/// dropped if nothing does). Whitespace here is ASCII space, tab, CR and LF.
struct TrimmedChannel: Sendable {
    private var started = false
    private var pendingWhitespace: [UInt8] = []

    mutating func add<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> String? {
        guard let lastVisible = bytes.lastIndex(where: { !Bytes.isWhitespace($0) }) else {
            if started { pendingWhitespace += bytes }
            return nil
        }
        var text = pendingWhitespace
        var from = bytes.startIndex
        if !started { from = bytes.firstIndex(where: { !Bytes.isWhitespace($0) })! }
        text += bytes[from...lastVisible]
        pendingWhitespace = Array(bytes[bytes.index(after: lastVisible)...])
        started = true
        return String(decoding: text, as: UTF8.self)
    }
}

/// Byte-level helpers. The scanners work on UTF-8 bytes: every marker starts with an ASCII byte, which is never
/// inside a multi-byte character, so every cut they make falls on a character boundary.
enum Bytes {
    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// The first index ≥ `from` where `needle` occurs in `hay`.
    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int = 0) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count else { return nil }
        let first = needle[0]
        var i = max(0, from)
        while i <= hay.count - needle.count {
            if hay[i] == first, hay[i + 1..<i + needle.count].elementsEqual(needle[1...]) { return i }
            i += 1
        }
        return nil
    }

    /// The first index ≥ `from` where the rest of `hay` is a proper, non-empty prefix of one of `markers`
    /// (text that might grow into a marker), else `hay.count`.
    static func heldBackStart(_ hay: [UInt8], markers: [[UInt8]], from: Int = 0) -> Int {
        let longest = markers.map(\.count).max() ?? 0
        var i = max(from, hay.count - longest + 1, 0)
        while i < hay.count {
            let tail = hay[i...]
            if markers.contains(where: { $0.count > tail.count && $0.starts(with: tail) }) { return i }
            i += 1
        }
        return hay.count
    }

    static func startsWith(_ hay: [UInt8], _ prefix: [UInt8]) -> Bool { hay.starts(with: prefix) }

    /// Whether `hay` is a proper prefix of `marker` (so more text could complete it).
    static func couldBecome(_ hay: [UInt8], _ marker: [UInt8]) -> Bool { hay.count < marker.count && marker.starts(with: hay) }

    static func string<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> String { String(decoding: bytes, as: UTF8.self) }
}
