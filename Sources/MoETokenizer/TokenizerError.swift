import MoEFormats

/// A TokenizerSpec that cannot make a working tokenizer. (Problems with the file itself are FormatErrors,
/// raised while the spec is read; these are inconsistencies between its parts.)
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidPattern(pattern: String, reason: String)
    case mergeOfUnknownToken(rank: Int, token: String)
    case mergeResultNotInVocabulary(rank: Int, left: String, right: String)
    case tokenIdOutOfRange(what: String, id: Int, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .invalidPattern(pattern, reason):
            return "pre-tokenizer pattern does not compile (\(FormatError.clip(reason))): \(FormatError.quote(pattern))"
        // Token texts come from the file: quoted (short, control characters escaped) so that the message stays one
        // line — a merge of "*\n" printed a raw newline (found by the gguf-tokenizer fuzz target).
        case let .mergeOfUnknownToken(rank, token):
            return "merge \(rank) uses \(FormatError.quote(token)), which is not in the vocabulary"
        case let .mergeResultNotInVocabulary(rank, left, right):
            return "merge \(rank) (\(FormatError.quote(left)) + \(FormatError.quote(right))) makes a token that is not in the vocabulary"
        case let .tokenIdOutOfRange(what, id, size):
            return "\(FormatError.clip(what)) has id \(id), outside the vocabulary of \(size) tokens"
        }
    }
}
