/// Finds added tokens (e.g. "<|endoftext|>") verbatim in raw text, before any pre-tokenization, so that no
/// regex piece or BPE merge can straddle one. Leftmost match first, longest on ties, as in Hugging Face.
struct AddedTokenMatcher: Sendable {
    enum Segment: Equatable {
        case text(Range<Int>) // UTF-8 byte range of ordinary text
        case token(Int) // an added token's id
    }

    private struct Candidate: Sendable {
        let bytes: [UInt8]
        let id: Int
        /// Control tokens ("<s>", "<|endoftext|>"): matched only when special text is parsed.
        let special: Bool
    }

    /// Candidates by first byte, longest first. Contents are valid UTF-8, so a match can only start on a
    /// scalar boundary and the text between matches is valid UTF-8 too.
    private let candidatesByFirstByte: [[Candidate]]
    let isEmpty: Bool

    init(_ tokens: [(id: Int, content: String, special: Bool)]) {
        var table = [[Candidate]](repeating: [], count: 256)
        for token in tokens where !token.content.isEmpty {
            let bytes = Array(token.content.utf8)
            table[Int(bytes[0])].append(Candidate(bytes: bytes, id: token.id, special: token.special))
        }
        candidatesByFirstByte = table.map { $0.sorted { $0.bytes.count > $1.bytes.count } }
        isEmpty = tokens.isEmpty
    }

    /// `parseSpecial` false: special tokens' text is ordinary text (llama-tokenize's `--no-parse-special`).
    func segments(of bytes: [UInt8], parseSpecial: Bool = true) -> [Segment] {
        guard !isEmpty else { return bytes.isEmpty ? [] : [.text(0 ..< bytes.count)] }
        var segments: [Segment] = []
        var textStart = 0, i = 0
        while i < bytes.count {
            let found = candidatesByFirstByte[Int(bytes[i])].first { candidate in
                (parseSpecial || !candidate.special) && i + candidate.bytes.count <= bytes.count
                    && bytes[i ..< i + candidate.bytes.count].elementsEqual(candidate.bytes)
            }
            guard let match = found else { i += 1; continue }
            if i > textStart { segments.append(.text(textStart ..< i)) }
            segments.append(.token(match.id))
            i += match.bytes.count
            textStart = i
        }
        if bytes.count > textStart { segments.append(.text(textStart ..< bytes.count)) }
        return segments
    }
}
