/// The syntax of a tag-delimited format: optional reasoning tags and the blocks that carry tool calls. Every
/// format but gpt-oss harmony is one of these; each format file supplies its blocks and a block parser.
struct TaggedSyntax: Sendable {
    /// `<think>` / `</think>`; nil when the model does not reason (then `<think>` is ordinary text).
    var reasoning: (open: String, close: String)?
    var blocks: [ToolBlock]

    static let thinkTags = (open: "<think>", close: "</think>")
}

/// A tool-call block: the text between `start` and `end` goes to `parse`, which returns the calls it holds or
/// nil when the block is malformed; a malformed or unterminated block stays in the content as written.
struct ToolBlock: Sendable {
    var start: String
    /// nil: the block runs to the end of the reply (Mistral's `[TOOL_CALLS]`, Llama's `<|python_tag|>`).
    var end: String?
    /// Only recognised where the content begins (Llama 3.1's bare `{"name": …}` reply).
    var onlyAtContentStart = false
    /// The start marker is part of what `parse` reads (the `{` of a bare JSON call).
    var startIsPayload = false
    var parse: @Sendable (String) -> [ToolCall]?
}

/// The incremental scanner over a `TaggedSyntax`. Modes:
/// - `contentStart`: before the first visible byte of the content (or of the reply). Leading whitespace is
///   dropped here (trimming would drop it anyway), then the reply-start tags are tried: `<think>` (only at the
///   very start of the reply) and start-only blocks.
/// - `reasoningStart`: the prompt opened `<think>`; a `<think>` the model writes again anyway is skipped.
/// - `reasoning`: inside `<think>`, until `</think>`; unterminated reasoning stays reasoning (a reply cut off
///   while thinking), which is also the only choice that streams: it was emitted as reasoning already.
/// - `content`: visible text, scanning for block start markers.
/// - `block(i)`: inside block i, held until its end marker (or the end of the reply).
struct TaggedReplyScanner: ReplyScanner {
    private enum Mode: Sendable, Equatable { case contentStart(reasoningAllowed: Bool), reasoningStart, reasoning, content, block(Int) }

    private let syntax: TaggedSyntax
    private let blockStarts: [[UInt8]]
    private let blockEnds: [[UInt8]?]
    private let reasoningOpen: [UInt8]?
    private let reasoningClose: [UInt8]?
    private var mode: Mode
    private var buffer: [UInt8] = []
    /// In block mode, where the search for the end marker resumes (bytes before it cannot start the marker).
    private var endSearchFrom = 0

    init(syntax: TaggedSyntax, startsInReasoning: Bool) {
        self.syntax = syntax
        blockStarts = syntax.blocks.map { Array($0.start.utf8) }
        blockEnds = syntax.blocks.map { $0.end.map { Array($0.utf8) } }
        reasoningOpen = syntax.reasoning.map { Array($0.open.utf8) }
        reasoningClose = syntax.reasoning.map { Array($0.close.utf8) }
        mode = startsInReasoning && syntax.reasoning != nil ? .reasoningStart : .contentStart(reasoningAllowed: true)
    }

    mutating func feed(_ bytes: [UInt8], final: Bool, output: inout DeltaOutput) {
        buffer += bytes
        while step(final: final, output: &output) {}
    }

    /// Advances one decision; false when it must wait for more text (or, with `final`, when all is consumed).
    private mutating func step(final: Bool, output: inout DeltaOutput) -> Bool {
        switch mode {
        case .contentStart(let reasoningAllowed):
            let leading = buffer.prefix { Bytes.isWhitespace($0) }.count
            buffer.removeFirst(leading)
            if buffer.isEmpty { return false }
            var candidates: [(marker: [UInt8], next: Mode, keep: Bool)] = []
            if reasoningAllowed, let open = reasoningOpen { candidates.append((open, .reasoning, false)) }
            for (i, block) in syntax.blocks.enumerated() where block.onlyAtContentStart {
                candidates.append((blockStarts[i], .block(i), block.startIsPayload))
            }
            for c in candidates where Bytes.startsWith(buffer, c.marker) {
                if !c.keep { buffer.removeFirst(c.marker.count) }
                enter(c.next)
                return true
            }
            if !final, candidates.contains(where: { Bytes.couldBecome(buffer, $0.marker) }) { return false }
            mode = .content
            return true

        case .reasoningStart:
            buffer.removeFirst(buffer.prefix { Bytes.isWhitespace($0) }.count)   // reasoning is trimmed anyway
            if buffer.isEmpty { return false }
            guard let open = reasoningOpen else { mode = .content; return true }
            if Bytes.startsWith(buffer, open) { buffer.removeFirst(open.count) }
            else if !final, Bytes.couldBecome(buffer, open) { return false }
            mode = .reasoning
            return true

        case .reasoning:
            guard let close = reasoningClose else { mode = .content; return true }
            if let i = Bytes.find(close, in: buffer) {
                output.reasoning(buffer[..<i])
                buffer.removeFirst(i + close.count)
                mode = .contentStart(reasoningAllowed: false)
                return true
            }
            let cut = final ? buffer.count : Bytes.heldBackStart(buffer, markers: [close])
            output.reasoning(buffer[..<cut])
            buffer.removeFirst(cut)
            return false

        case .content:
            var earliest: (at: Int, block: Int)?
            for (i, block) in syntax.blocks.enumerated() where !block.onlyAtContentStart {
                if let at = Bytes.find(blockStarts[i], in: buffer), at < (earliest?.at ?? Int.max) { earliest = (at, i) }
            }
            if let (at, i) = earliest {
                output.content(buffer[..<at])
                buffer.removeFirst(at + blockStarts[i].count)
                enter(.block(i))
                return true
            }
            let cut = final ? buffer.count : Bytes.heldBackStart(buffer, markers: contentMarkers)
            output.content(buffer[..<cut])
            buffer.removeFirst(cut)
            return false

        case .block(let i):
            let block = syntax.blocks[i]
            // The block as written, for when it is malformed (its start marker was consumed unless it is payload).
            let startWritten = block.startIsPayload ? [] : blockStarts[i]
            func written(_ part: ArraySlice<UInt8>) -> [UInt8] { startWritten + part }
            guard let end = blockEnds[i] else {
                guard final else { return false }
                finishBlock(block, payload: buffer[...], written: written(buffer[...]), output: &output)
                buffer = []
                return false
            }
            if let at = Bytes.find(end, in: buffer, from: endSearchFrom) {
                finishBlock(block, payload: buffer[..<at], written: written(buffer[..<(at + end.count)]), output: &output)
                buffer.removeFirst(at + end.count)
                mode = .content
                return true
            }
            if final {
                output.content(written(buffer[...]))   // unterminated: keep it as text
                buffer = []
                return false
            }
            endSearchFrom = max(0, buffer.count - end.count + 1)
            return false
        }
    }

    private var contentMarkers: [[UInt8]] {
        syntax.blocks.indices.filter { !syntax.blocks[$0].onlyAtContentStart }.map { blockStarts[$0] }
    }

    private mutating func enter(_ next: Mode) {
        mode = next
        endSearchFrom = 0
    }

    private func finishBlock(_ block: ToolBlock, payload: ArraySlice<UInt8>, written: [UInt8], output: inout DeltaOutput) {
        if let calls = block.parse(Bytes.string(payload)), !calls.isEmpty {
            output.toolCalls(calls)
        } else {
            output.content(written)
        }
    }
}

/// A parser for a tag-delimited format.
struct TaggedFormatParser: ChatFormatParser {
    let syntax: TaggedSyntax
    let startsInReasoning: Bool

    func makeStreamParser() -> ChatStreamParser {
        ChatStreamParser(TaggedReplyScanner(syntax: syntax, startsInReasoning: startsInReasoning))
    }
}
