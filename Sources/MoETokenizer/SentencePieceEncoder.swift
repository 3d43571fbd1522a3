import MoEFormats

/// Encoding and decoding for SentencePiece vocabularies (TokenizerSpec.kind `.sentencePiece`): pieces spelled
/// with ▁ (U+2581) for a space, bytes missing from the vocabulary written as `<0xXX>` tokens.
///
/// Encoding one text (a run between added tokens): put ▁ in front as `SpacePrefix` says, write every space
/// as ▁, optionally cut before each ▁ (Metaspace `split`), then merge each piece:
/// - `byScore` (llama.cpp's `llm_tokenizer_spm`, SentencePiece's BPE): symbols are the UTF-8 characters;
///   repeatedly merge the adjacent pair whose concatenation is a vocabulary token with the highest score,
///   the leftmost on ties; a final symbol that is no token becomes one `<0xXX>` token per byte (else the
///   unknown token).
/// - `byRank` (Hugging Face BPE with byte fallback): characters → ids (missing ones → `<0xXX>` tokens if
///   every byte has one, else unknown), then merges by rank as for byte-level BPE.
///
/// Works on bytes, not Strings: invalid UTF-8 (`moe tokenize --file`) reaches the merge loop as it is, each
/// stray byte its own symbol, and comes out as byte tokens, as with llama.cpp's std::string input.
struct SentencePieceEncoder: Sendable {
    let options: SentencePieceOptions
    /// Token UTF-8 → id over the whole vocabulary (control and byte tokens included, as llama.cpp's
    /// `token_to_id`; a later duplicate wins, as there).
    private let table: ByteStringTable
    private let scores: [Float]
    /// byte → its `<0xXX>` token, else the token spelling that single byte, else -1.
    private let byteIds: [Int32]
    private let merges: MergeTable
    /// id → the bytes it prints (▁ → space; byte tokens their byte; control and unknown tokens nothing).
    let tokenBytes: [[UInt8]]
    /// id → whether a leading space in its text is SentencePiece's prefix (normal pieces only).
    private let isNormal: [Bool]

    static let mark: [UInt8] = Array(TokenizerSpec.spaceMark.utf8) // E2 96 81

    init(spec: TokenizerSpec, options: SentencePieceOptions, merges: MergeTable) {
        self.options = options
        self.merges = merges
        let types = spec.tokenTypes.count == spec.tokens.count
            ? spec.tokenTypes : [TokenType](repeating: .normal, count: spec.tokens.count)
        scores = spec.scores.count == spec.tokens.count ? spec.scores : [Float](repeating: 0, count: spec.tokens.count)
        table = ByteStringTable(spec.tokens.map { Array($0.utf8) })

        var byteIds = [Int32](repeating: -1, count: 256)
        for byte in 0 ..< 256 {
            let hex = String(byte, radix: 16, uppercase: true)
            let name = Array("<0x\(byte < 16 ? "0" : "")\(hex)>".utf8)
            if let id = table.id(name, 0 ..< name.count) {
                byteIds[byte] = id
            } else if let id = table.id([UInt8(byte)], 0 ..< 1) {   // llama.cpp's fallback: the byte as a string
                byteIds[byte] = id
            }
        }
        self.byteIds = byteIds

        tokenBytes = zip(spec.tokens, types).map { token, type in
            switch type {
            case .control, .unknown: return []
            case .byte: return TokenizerSpec.byteTokenValue(token).map { [$0] } ?? []
            case .userDefined: return Array(token.utf8)
            default: return Self.unescapingSpaces(Array(token.utf8))
            }
        }
        isNormal = types.map { $0 == .normal || $0 == .undefined || $0 == .unused }
    }

    /// ▁ → space in a token's UTF-8 (byte by byte: Foundation's replacingOccurrences made loading a 32k-token
    /// vocabulary take a third of a second).
    static func unescapingSpaces(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0xE2) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0xE2, bytes[i...].starts(with: mark) {
                out.append(0x20)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    // MARK: Encoding

    /// Appends the ids of `bytes[range]`, one text between added tokens. `atStart`: the text begins the input.
    func encode(_ bytes: [UInt8], _ range: Range<Int>, atStart: Bool, into ids: inout [Int]) {
        guard !range.isEmpty else { return }
        var text: [UInt8] = []
        text.reserveCapacity(range.count + 8)
        let startsWithSpace = bytes[range.lowerBound] == 0x20 || bytes[range].starts(with: Self.mark)
        switch options.spacePrefix {
        case .none: break
        case .everyText: text += Self.mark
        case .first: if atStart && !startsWithSpace { text += Self.mark }
        case .always: if !startsWithSpace { text += Self.mark }
        }
        for byte in bytes[range] {
            if byte == 0x20 && options.escapesSpaces { text += Self.mark } else { text.append(byte) }
        }
        if options.splitsAtNewlines {
            encodeNewlineRuns(text, into: &ids)
            return
        }
        guard options.splitsAtSpaces else {
            encodePiece(text, 0 ..< text.count, into: &ids)
            return
        }
        // Metaspace split (MergedWithNext): every ▁ starts a new piece.
        var pieceStart = 0, i = 0
        while i < text.count {
            if i > pieceStart, text[i] == 0xE2, text[i...].starts(with: Self.mark) {
                encodePiece(text, pieceStart ..< i, into: &ids)
                pieceStart = i
            }
            i += 1
        }
        encodePiece(text, pieceStart ..< text.count, into: &ids)
    }

    /// Raw-UTF-8 BPE's pre-tokenizer (`[^\n]+|[\n]+`): runs of newlines and runs of other bytes, each merged
    /// on its own; with `takesNewlineRunsWhole`, a newline run that is a token is that token (gemma-4).
    private func encodeNewlineRuns(_ text: [UInt8], into ids: inout [Int]) {
        var start = 0
        while start < text.count {
            let isNewline = text[start] == 0x0A
            var end = start + 1
            while end < text.count, (text[end] == 0x0A) == isNewline { end += 1 }
            if isNewline, options.takesNewlineRunsWhole, let id = table.id(text, start ..< end) {
                ids.append(Int(id))
            } else {
                encodePiece(text, start ..< end, into: &ids)
            }
            start = end
        }
    }

    private func encodePiece(_ text: [UInt8], _ range: Range<Int>, into ids: inout [Int]) {
        guard !range.isEmpty else { return }
        switch options.merging {
        case .byScore: mergeByScore(text, range, into: &ids)
        case .byRank: mergeByRank(text, range, into: &ids)
        }
    }

    /// The length of the UTF-8 sequence a byte starts, as llama.cpp's `unicode_len_utf8` (a stray
    /// continuation byte counts as one).
    static func sequenceLength(_ lead: UInt8) -> Int {
        switch lead >> 4 {
        case 0xF: return 4
        case 0xE: return 3
        case 0xC, 0xD: return 2
        default: return 1
        }
    }

    private func mergeByScore(_ text: [UInt8], _ range: Range<Int>, into ids: inout [Int]) {
        // Symbols: start offset and byte length, linked both ways; a merged-away symbol has length 0.
        var start: [Int] = [], length: [Int] = []
        var offset = range.lowerBound
        while offset < range.upperBound {
            let n = min(Self.sequenceLength(text[offset]), range.upperBound - offset)
            start.append(offset)
            length.append(n)
            offset += n
        }
        let count = start.count
        var next = Array(1 ... count), prev = Array(-1 ..< count - 1)
        next[count - 1] = -1
        var queue = BigramQueue()
        func tryAdd(_ left: Int) {
            guard left >= 0, next[left] >= 0 else { return }
            let right = next[left]
            if let id = table.id(text, start[left] ..< start[right] + length[right]) {
                queue.push(score: scores[Int(id)], left: left)
            }
        }
        for i in 0 ..< count - 1 { tryAdd(i) }
        while let (score, left) = queue.pop() {
            // A queued pair is stale when either symbol has changed since. Whatever pair now starts at `left`
            // had its own entry queued when it formed; if it is a token of the same score, the two entries
            // are the same candidate (same score, same position), so merging now is what llama.cpp does.
            guard length[left] > 0, next[left] >= 0 else { continue }
            let right = next[left]
            guard let id = table.id(text, start[left] ..< start[right] + length[right]), scores[Int(id)] == score else { continue }
            length[left] += length[right]
            length[right] = 0
            next[left] = next[right]
            if next[left] >= 0 { prev[next[left]] = left }
            tryAdd(prev[left])
            tryAdd(left)
        }
        var i = 0
        while i >= 0 {
            let symbol = start[i] ..< start[i] + length[i]
            if let id = table.id(text, symbol) {
                ids.append(Int(id))
            } else {
                for byte in text[symbol] { appendByte(byte, into: &ids) }
            }
            i = next[i]
        }
    }

    private func appendByte(_ byte: UInt8, into ids: inout [Int]) {
        let id = byteIds[Int(byte)]
        if id >= 0 { ids.append(Int(id)) } else if let unk = options.unknownTokenId { ids.append(unk) }
    }

    /// Hugging Face's BPE `merge_word` with byte fallback and unknown-token fusing, then the rank merges.
    private func mergeByRank(_ text: [UInt8], _ range: Range<Int>, into ids: inout [Int]) {
        if options.ignoresMerges, let id = table.id(text, range) {
            ids.append(Int(id))
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(range.count)
        var pendingUnknown = false   // a fused unknown token not yet written
        var offset = range.lowerBound
        while offset < range.upperBound {
            let character = offset ..< min(offset + Self.sequenceLength(text[offset]), range.upperBound)
            offset = character.upperBound
            if let id = table.id(text, character) {
                if pendingUnknown, let unk = options.unknownTokenId { symbols.append(Int32(unk)) }
                pendingUnknown = false
                symbols.append(id)
                continue
            }
            if options.byteFallback, text[character].allSatisfy({ byteIds[Int($0)] >= 0 }) {
                if pendingUnknown, let unk = options.unknownTokenId { symbols.append(Int32(unk)) }
                pendingUnknown = false
                symbols += text[character].map { byteIds[Int($0)] }
                continue
            }
            guard let unk = options.unknownTokenId else { continue }   // no unknown token: dropped, as HF does
            if options.fusesUnknown {
                pendingUnknown = true
            } else {
                symbols.append(Int32(unk))
            }
        }
        if pendingUnknown, let unk = options.unknownTokenId { symbols.append(Int32(unk)) }
        ids += merges.apply(to: symbols).map(Int.init)
    }

    // MARK: Decoding

    /// Whether `decode` drops the first space: the prefix that encoding added (HF's `Strip` decoder,
    /// SentencePiece's decoder). Only when the first token that prints anything is a normal piece.
    func dropsLeadingSpace(_ ids: [Int]) -> Bool {
        guard options.spacePrefix != .none,
              let first = ids.first(where: { $0 >= 0 && $0 < tokenBytes.count && !tokenBytes[$0].isEmpty }) else { return false }
        return isNormal[first] && tokenBytes[first].first == 0x20
    }
}

/// Token bytes → id without allocating per lookup: open addressing over FNV-1a hashes, keys stored end to end.
struct ByteStringTable: Sendable {
    private var storage: [UInt8] = []
    private var starts: [Int] = []
    private var slots: [Int32]   // -1 empty, else the id (= index into starts)
    private let mask: Int

    /// `tokens[id]` is id's spelling; for a spelling that appears twice the later id wins (llama.cpp).
    init(_ tokens: [[UInt8]]) {
        var size = 16
        while size < 2 * tokens.count { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        starts.reserveCapacity(tokens.count + 1)
        for token in tokens {
            starts.append(storage.count)
            storage += token
        }
        starts.append(storage.count)
        for (id, token) in tokens.enumerated() where !token.isEmpty {
            var slot = Self.hash(token, 0 ..< token.count) & mask
            while slots[slot] >= 0 && !equals(Int(slots[slot]), token, 0 ..< token.count) { slot = (slot + 1) & mask }
            slots[slot] = Int32(id)
        }
    }

    static func hash(_ bytes: [UInt8], _ range: Range<Int>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes[range] { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    private func equals(_ id: Int, _ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        let key = starts[id] ..< starts[id + 1]
        return key.count == range.count && storage[key].elementsEqual(bytes[range])
    }

    func id(_ bytes: [UInt8], _ range: Range<Int>) -> Int32? {
        guard !range.isEmpty else { return nil }
        var slot = Self.hash(bytes, range) & mask
        while slots[slot] >= 0 {
            if equals(Int(slots[slot]), bytes, range) { return slots[slot] }
            slot = (slot + 1) & mask
        }
        return nil
    }
}

/// Candidate merges, highest score first, then leftmost: one UInt64 per entry, so plain integer order
/// of (inverted order-preserving score bits, position) is the priority.
private struct BigramQueue {
    private var items: [UInt64] = []

    /// Float bits → UInt32 whose unsigned order is the float order (negatives flipped, positives offset).
    private static func orderKey(_ score: Float) -> UInt32 {
        let bits = score.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }

    mutating func push(score: Float, left: Int) {
        let item = UInt64(~Self.orderKey(score)) << 32 | UInt64(UInt32(truncatingIfNeeded: left))
        items.append(item)
        // Sift up by moving parents down into the hole, one write per level instead of a swap.
        var hole = items.count - 1
        while hole > 0 {
            let parent = (hole - 1) / 2
            guard item < items[parent] else { break }
            items[hole] = items[parent]
            hole = parent
        }
        items[hole] = item
    }

    mutating func pop() -> (score: Float, left: Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        let count = items.count
        if count > 0 {
            var hole = 0
            while true {
                var child = 2 * hole + 1
                if child >= count { break }
                if child + 1 < count, items[child + 1] < items[child] { child += 1 }
                guard items[child] < last else { break }
                items[hole] = items[child]
                hole = child
            }
            items[hole] = last
        }
        let key = ~UInt32(truncatingIfNeeded: top >> 32)
        let bits = key & 0x8000_0000 != 0 ? key & 0x7FFF_FFFF : ~key
        return (Float(bitPattern: bits), Int(top & 0xFFFF_FFFF))
    }
}
