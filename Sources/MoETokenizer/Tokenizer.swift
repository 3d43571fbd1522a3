// TEMPORARY stub until the tokenizer branch lands.
import MoEFormats
public final class Tokenizer: Sendable {
    public init(spec: TokenizerSpec) throws { }
}
extension Tokenizer {
    public func encode(_ s: String) -> [Int] { [] }
    public func decodeBytes(_ ids: [Int]) -> [UInt8] { [] }
    public var eosTokenId: Int? { nil }
    public var bosTokenId: Int? { nil }
    public var addsBos: Bool { false }
}
