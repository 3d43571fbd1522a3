import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// Seeded corruptions of a small vocabulary in both file forms (Fixtures/pretok-glm4.*). Each must either give a
/// working tokenizer — which then encodes a text without crashing — or throw a FormatError or TokenizerError.
/// A crash kills the test process: that is this test failing.
struct TokenizerMutationTests {
    /// SplitMix64: a small seeded generator, so a failing mutation can be replayed.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static let text = "Hello, 世界! It's 12345 — naïve café\n\n\t<|endoftext|> done 😶‍🌫️"

    /// Loads with `load`, builds the tokenizer and encodes; returns whether it loaded. Any error but the two typed
    /// ones is recorded.
    static func attempt(_ index: Int, _ load: () throws -> TokenizerSpec) -> Bool {
        do {
            let tokenizer = try Tokenizer(spec: load())
            _ = tokenizer.encode(text)
            _ = tokenizer.encode(bytes: Array(text.utf8) + [0xFF, 0xC3], parseSpecial: false)
            return true
        } catch is FormatError {
        } catch is TokenizerError {
        } catch {
            Issue.record("mutation \(index): \(type(of: error)) \(error)")
        }
        return false
    }

    @Test("mutated GGUF vocabularies load or are refused, never crash")
    func gguf() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: TrainedVocabularyTests.fixtures + "/pretok-glm4.gguf")))
        let directory = try TemporaryDirectory()
        var rng = Generator(state: 19)
        var loaded = 0
        for index in 0 ..< 600 {
            var bytes = original
            switch index % 3 {
            case 0: bytes = Array(bytes.prefix(rng.below(bytes.count)))
            case 1: for _ in 0 ... rng.below(3) { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                // A length or count set to an extreme value, somewhere in the metadata.
                let at = rng.below(bytes.count - 8)
                let value: UInt64 = [.max, 1 << 40, 0, 1, 3, UInt64(bytes.count)][rng.below(6)]
                withUnsafeBytes(of: value.littleEndian) { for (k, b) in $0.enumerated() { bytes[at + k] = b } }
            }
            let path = try directory.write("m\(index % 8).gguf", Data(bytes))
            loaded += Self.attempt(index) { try TokenizerSpec(gguf: GGUFFile(path: path)) } ? 1 : 0
        }
        #expect(loaded > 0 && loaded < 600, "loaded \(loaded) of 600")
    }

    @Test("mutated tokenizer.json files load or are refused, never crash")
    func tokenizerJSON() throws {
        let original = try String(contentsOfFile: TrainedVocabularyTests.fixtures + "/pretok-glm4.tokenizer.json", encoding: .utf8)
        let directory = try TemporaryDirectory()
        var rng = Generator(state: 7)
        // Pieces of regex syntax, to make patterns that compile, do not, or match oddly.
        let fragments = ["(", ")", "[", "]", "\\\\p{", "\\\\p{Han}", "*", "+?", "{2,1}", "(?=", "(?i:", "\\\\", "|", "&&", "$", "^", "\\\\b", "."]
        let behaviours = ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous", "Sideways"]
        var loaded = 0
        for index in 0 ..< 300 {
            var text = original
            if index % 2 == 0, let range = text.range(of: #"{"Regex":""#) {
                // Splice regex fragments into the pattern.
                var insert = ""
                for _ in 0 ... rng.below(4) { insert += fragments[rng.below(fragments.count)] }
                text.insert(contentsOf: insert, at: range.upperBound)
                text = text.replacingOccurrences(of: "\"Isolated\"", with: "\"\(behaviours[rng.below(behaviours.count)])\"")
            } else {
                var bytes = Array(text.utf8)
                let syntax = Array("{}[]\",:0a\\".utf8)
                for _ in 0 ... rng.below(3) { bytes[rng.below(bytes.count)] = syntax[rng.below(syntax.count)] }
                text = String(decoding: bytes, as: UTF8.self)
            }
            let path = try directory.write("tokenizer.json", Data(text.utf8))
            loaded += Self.attempt(index) { try TokenizerSpec(tokenizerJSON: path) } ? 1 : 0
        }
        #expect(loaded > 0 && loaded < 300, "loaded \(loaded) of 300")
    }
}
