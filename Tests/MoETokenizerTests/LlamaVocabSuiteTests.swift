import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// llama.cpp's own tokenizer test suite (tests/test-tokenizer-0): `models/ggml-vocab-NAME.gguf` (vocabulary
/// only, no tensors) with `.gguf.inp` (texts separated by "\n__ggml_vocab_test__\n") and `.gguf.out` (one line of
/// ids per text, made by Hugging Face `tokenizers` from the original tokenizer; no BOS, special tokens not parsed).
///
/// The source is llama-cpp-python's sdist, which `Tools/scripts/build-llamacpp.sh --source-only` downloads and
/// unpacks into $SWIFTMOE_CACHE (default ~/.cache/swiftmoe); `.ci/run` does that before the tests.
/// `MOE_LLAMACPP_SOURCE` may point at another llama.cpp tree.
enum LlamaVocabSuite {
    static let directory: String = {
        let environment = ProcessInfo.processInfo.environment
        if let source = environment["MOE_LLAMACPP_SOURCE"], !source.isEmpty { return source + "/models" }
        let cache = environment["SWIFTMOE_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swiftmoe").path
        let version = environment["LLAMA_CPP_PYTHON_VERSION"].flatMap { $0.isEmpty ? nil : $0 } ?? "0.3.36"
        return "\(cache)/llama.cpp-\(version)/src/vendor/llama.cpp/models"
    }()

    /// Every vocabulary with expected outputs, except bert-bge (WordPiece, which this engine does not run).
    static let vocabularies: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf.out") }
            .map { String($0.dropFirst("ggml-vocab-".count).dropLast(".gguf.out".count)) }
            .filter { $0 != "bert-bge" }
            .sorted()
    }()

    static let isAvailable = !vocabularies.isEmpty
    static let unavailableMessage: Comment =
        "llama.cpp's tokenizer suite not found at \(directory) (run Tools/scripts/build-llamacpp.sh --source-only)"

    static func path(_ name: String, _ suffix: String) -> String { "\(directory)/ggml-vocab-\(name).gguf\(suffix)" }

    /// The texts and their expected ids, read as test-tokenizer-0 reads them.
    static func cases(_ name: String) throws -> [(text: [UInt8], ids: [Int])] {
        let input = try Array(Data(contentsOf: URL(fileURLWithPath: path(name, ".inp"))))
        let output = try String(contentsOfFile: path(name, ".out"), encoding: .utf8)
        let separator = Array("\n__ggml_vocab_test__\n".utf8)
        var texts: [[UInt8]] = []
        var start = 0, i = 0
        while i + separator.count <= input.count {
            if input[i ..< i + separator.count].elementsEqual(separator) {
                texts.append(Array(input[start ..< i]))
                i += separator.count
                start = i
            } else {
                i += 1
            }
        }
        if start < input.count { texts.append(Array(input[start...])) }
        var lines = output.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        guard texts.count == lines.count else {
            throw FormatError.malformed(path: path(name, ".out"), what: "\(lines.count) lines of ids for \(texts.count) texts")
        }
        return zip(texts, lines).map { text, line in
            (text, line.split(separator: " ").compactMap { Int($0) })
        }
    }
}

@Suite(.enabled(if: LlamaVocabSuite.isAvailable, LlamaVocabSuite.unavailableMessage))
struct LlamaVocabSuiteTests {
    /// Vocabularies whose decoding gives each text back byte for byte. The others change text on purpose:
    /// SentencePiece ones (llama-spm, phi-3) start with the ▁ they put in front, and a few byte-level ones
    /// normalize (e.g. lower-case, NFKC) or lack tokens for some characters.
    static let decodesExactly: Set<String> = ["gemma-4"]

    @Test("llama.cpp's tokenizer suite: ids equal", arguments: LlamaVocabSuite.vocabularies)
    func vocabulary(name: String) throws {
        let file = try GGUFFile(path: LlamaVocabSuite.path(name, ""))
        let tokenizer = try Tokenizer(spec: TokenizerSpec(gguf: file))
        let cases = try LlamaVocabSuite.cases(name)
        var failures: [String] = [], decodeFailures: [String] = []
        for (index, test) in cases.enumerated() {
            let ids = tokenizer.encode(bytes: test.text, parseSpecial: false)
            if ids != test.ids {
                failures.append("text \(index) \(String(decoding: test.text, as: UTF8.self).debugDescription): got \(ids), expected \(test.ids)")
            }
            if Self.decodesExactly.contains(name), tokenizer.decodeBytes(test.ids) != test.text {
                decodeFailures.append("text \(index) \(String(decoding: test.text, as: UTF8.self).debugDescription) decodes to \(tokenizer.decode(test.ids).debugDescription)")
            }
        }
        print("[\(name)] \(cases.count - failures.count)/\(cases.count) texts equal")
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count) texts differ; first: \(failures.prefix(3).joined(separator: "\n"))")
        #expect(decodeFailures.isEmpty, "\(decodeFailures.count) of \(cases.count) texts decode differently; first: \(decodeFailures.prefix(3).joined(separator: "\n"))")
    }
}
