import Testing
@testable import ChatParsing

/// The standard cases of every format (see `FormatSample.standardCases`), each also streamed at every split.
@Test(arguments: FormatSamples.all.flatMap(\.standardCases))
func standardCase(_ c: ReplyCase) {
    check(c)
}
