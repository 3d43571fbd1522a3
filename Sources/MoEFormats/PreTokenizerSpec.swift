/// How text is prepared and cut into pieces before BPE merges each piece: normalizers rewrite the text,
/// then split steps run in order, each on every piece the previous steps left (Hugging Face's `Sequence` of
/// pre-tokenizers; llama.cpp's list of regexes for a `tokenizer.ggml.pre` name, all "Isolated").
///
/// Both file forms end here: `tokenizer.json`'s `normalizer` and `pre_tokenizer` sections are translated step
/// for step, and a GGUF name is looked up in `PreTokenizerTable`. MoETokenizer runs it.
public struct PreTokenizerSpec: Sendable, Equatable {
    /// What a split step looks for: a regex (ICU syntax, which reads the patterns these files carry as
    /// Hugging Face's Oniguruma does), or a literal string.
    public enum Pattern: Sendable, Equatable {
        case regex(String)
        case string(String)
    }

    /// Hugging Face's `SplitDelimiterBehavior`: what happens to a match ("delimiter") and the text around it.
    public enum SplitBehavior: String, Sendable, CaseIterable {
        /// Every match and every stretch between matches is a piece.
        case isolated = "Isolated"
        /// Matches are dropped; the stretches between them are pieces.
        case removed = "Removed"
        /// A match joins the stretch before it.
        case mergedWithPrevious = "MergedWithPrevious"
        /// A match joins the stretch after it.
        case mergedWithNext = "MergedWithNext"
        /// Consecutive matches form one piece, as do consecutive non-matches.
        case contiguous = "Contiguous"
    }

    public enum Step: Sendable, Equatable {
        /// Cut every piece by `pattern` with `behavior`; `invert` swaps what counts as a match.
        case split(Pattern, SplitBehavior, invert: Bool)
        /// ByteLevel's `add_prefix_space`: a piece that does not start with a space gets one.
        case prefixSpace
    }

    public enum Normalizer: Sendable, Equatable {
        case nfc, nfd, nfkc, nfkd
        case lowercase
        /// Puts the string before the text (SentencePiece-style BPE: "▁").
        case prepend(String)
        /// Replaces every match of the pattern.
        case replace(Pattern, with: String)
        /// Removes leading and/or trailing whitespace.
        case strip(left: Bool, right: Bool)
    }

    public var normalizers: [Normalizer]
    public var steps: [Step]

    public init(normalizers: [Normalizer] = [], steps: [Step]) {
        self.normalizers = normalizers
        self.steps = steps
    }

    /// Each regex applied in turn with "Isolated" behaviour: llama.cpp's model of every pre-tokenizer.
    public init(regexes: [String]) {
        self.init(steps: regexes.map { .split(.regex($0), .isolated, invert: false) })
    }

    /// The whole text as one piece (ByteLevel without its regex and nothing else).
    public static let wholeText = PreTokenizerSpec(steps: [])
}

/// An added token: matched in the raw text before pre-tokenization (Hugging Face `added_tokens`; GGUF
/// control and user-defined tokens), with Hugging Face's matching options.
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Control tokens ("<|endoftext|>"); callers may choose not to parse them in text (llama-tokenize's default).
    public var special: Bool
    /// Also takes the whitespace just before the match.
    public var lstrip: Bool
    /// Also takes the whitespace just after the match.
    public var rstrip: Bool
    /// Matched in the normalized text rather than the raw text.
    public var normalized: Bool
    /// Matched only where it is not part of a longer word.
    public var singleWord: Bool

    public init(id: Int, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = false, singleWord: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.singleWord = singleWord
    }
}
