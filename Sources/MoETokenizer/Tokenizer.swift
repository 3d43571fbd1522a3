// TEMPORARY stub until the tokenizer branch lands.
import MoEFormats
public final class Tokenizer: Sendable {
    public init(spec: TokenizerSpec) throws { }
}
