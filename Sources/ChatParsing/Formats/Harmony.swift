/// gpt-oss "harmony": the reply is a sequence of messages, each a header, `<|message|>`, a body and a
/// terminator. The generation prompt ends in `<|start|>assistant`, so the reply begins with a header:
///
///     <|channel|>analysis<|message|>…reasoning…<|end|>
///     <|start|>assistant<|channel|>final<|message|>…content…<|return|>
///     <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>
///
/// The recipient may also come before the channel (` to=functions.get_weather<|channel|>commentary json`,
/// as the template renders past calls). Channel `analysis` is reasoning; `final`, and `commentary` without a
/// recipient (a preamble), are content; a message with a recipient is a tool call whose body is the JSON
/// arguments. Bodies end at `<|end|>`, `<|return|>`, `<|call|>`, a following `<|start|>`, or the end of the
/// reply (stop tokens are often left out of the text). Text that is not harmony at all (no `<|message|>` on
/// its first line within 256 bytes) is content.
struct HarmonyScanner: ReplyScanner {
    private enum Mode: Sendable, Equatable {
        case between, role, header, reasoning, content, plain
        case tool(name: String, written: [UInt8])
    }

    private static let start = Array("<|start|>".utf8), message = Array("<|message|>".utf8)
    private static let role = Array("assistant".utf8)
    private static let terminators = ["<|end|>", "<|return|>", "<|call|>", "<|start|>"].map { Array($0.utf8) }
    private static let maxHeader = 256

    private var mode = Mode.between
    private var buffer: [UInt8] = []
    /// In a tool body, where the terminator search resumes (a long argument text is not searched again).
    private var searchFrom = 0

    mutating func feed(_ bytes: [UInt8], final: Bool, output: inout DeltaOutput) {
        buffer += bytes
        while step(final: final, output: &output) {}
    }

    private mutating func step(final: Bool, output: inout DeltaOutput) -> Bool {
        switch mode {
        case .between:
            buffer.removeFirst(buffer.prefix { Bytes.isWhitespace($0) }.count)
            if buffer.isEmpty { return false }
            if Bytes.startsWith(buffer, Self.start) { buffer.removeFirst(Self.start.count); mode = .role; return true }
            if !final, Bytes.couldBecome(buffer, Self.start) { return false }
            mode = .header
            return true

        case .role:
            if Bytes.startsWith(buffer, Self.role) { buffer.removeFirst(Self.role.count); mode = .header; return true }
            if !final, Bytes.couldBecome(buffer, Self.role) { return false }
            mode = .header
            return true

        case .header:
            // The header must end on the first line and within maxHeader bytes, so the decision cannot depend
            // on how the text was split.
            let firstLine = buffer.firstIndex(of: 0x0A) ?? buffer.count
            let window = Array(buffer[..<min(firstLine, Self.maxHeader + Self.message.count)])
            if let at = Bytes.find(Self.message, in: window) {
                let header = Bytes.string(buffer[..<at])
                let written = Array(buffer[..<(at + Self.message.count)])
                buffer.removeFirst(at + Self.message.count)
                mode = Self.bodyMode(header: header, written: written)
                return true
            }
            if final || firstLine < buffer.count || buffer.count >= Self.maxHeader + Self.message.count {
                mode = .plain
                return true
            }
            return false

        case .reasoning, .content:
            let end = earliestTerminator()
            let cut = end?.at ?? (final ? buffer.count : Bytes.heldBackStart(buffer, markers: Self.terminators))
            if mode == .reasoning { output.reasoning(buffer[..<cut]) } else { output.content(buffer[..<cut]) }
            buffer.removeFirst(cut)
            guard let end else { return false }
            consumeTerminator(end.marker)
            return true

        case .tool(let name, let written):
            let end = earliestTerminator(from: searchFrom)
            guard end != nil || final else {
                searchFrom = max(0, buffer.count - Self.longestTerminator + 1)
                return false
            }
            searchFrom = 0
            let at = end?.at ?? buffer.count
            let body = buffer[..<at]
            if let value = JSONValue.parse(Bytes.string(body)), let arguments = ArgumentValue.normalisedObjectText(value) {
                output.toolCalls([ToolCall(name: name, arguments: arguments)])
            } else {
                let terminator = end.map { $0.marker == Self.start ? [] : $0.marker } ?? []
                output.content(written + body + terminator)
            }
            buffer.removeFirst(at)
            if let end { consumeTerminator(end.marker) } else { mode = .between }
            return end != nil

        case .plain:
            output.content(buffer)
            buffer = []
            return false
        }
    }

    private static let longestTerminator = terminators.map(\.count).max() ?? 0

    private func earliestTerminator(from: Int = 0) -> (at: Int, marker: [UInt8])? {
        Self.terminators.compactMap { m in Bytes.find(m, in: buffer, from: from).map { (at: $0, marker: m) } }.min { $0.at < $1.at }
    }

    /// A following `<|start|>` is left for `.between` to read; the other terminators are consumed.
    private mutating func consumeTerminator(_ marker: [UInt8]) {
        if marker != Self.start { buffer.removeFirst(marker.count) }
        mode = .between
    }

    private static func bodyMode(header: String, written: [UInt8]) -> Mode {
        if let recipient = field(after: "to=", in: header), recipient != "assistant" {
            let name = recipient.hasPrefix("functions.") ? String(recipient.dropFirst("functions.".count)) : recipient
            if !name.isEmpty { return .tool(name: name, written: written) }
        }
        return field(after: "<|channel|>", in: header) == "analysis" ? .reasoning : .content
    }

    /// The word after `key` in a header, up to whitespace or the next `<|`.
    private static func field(after key: String, in header: String) -> String? {
        guard let range = header.range(of: key) else { return nil }
        let rest = header[range.upperBound...]
        let end = rest.firstIndex { $0.isWhitespace || $0 == "<" } ?? rest.endIndex
        return String(rest[..<end])
    }
}

struct HarmonyParser: ChatFormatParser {
    func makeStreamParser() -> ChatStreamParser { ChatStreamParser(HarmonyScanner()) }
}
