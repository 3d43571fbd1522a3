import Foundation
import MoEFormats
import MoETokenizer
import Testing

/// The SentencePiece reference models in ../shared: tiny-mixtral-spm (tokenizer-golden.json: transformers'
/// LlamaTokenizer ids, BOS included, for the 904 documents of valid.txt) and tiny-ernie45-moe, whose
/// tokenizer.json and tokenizer.model hold the same vocabulary (its tokenizer.model differs only in the
/// training file's name), so the same golden ids apply.
enum SentencePieceReference {
    static let mixtral = ReferenceData.path("models/tiny-mixtral-spm")
    static let ernie = ReferenceData.path("models/tiny-ernie45-moe")
    static let golden = mixtral + "/tokenizer-golden.json"

    static let isAvailable = [golden, mixtral + "/tiny-mixtral-spm-bf16.gguf", mixtral + "/tokenizer.model",
                              ernie + "/tiny-ernie45-moe-bf16.gguf", ernie + "/tokenizer.model"]
        .allSatisfy { FileManager.default.fileExists(atPath: $0) }

    struct Document: Decodable {
        let text: String
        let ids: [Int]
    }

    static func documents() throws -> [Document] {
        struct File: Decodable { let documents: [Document] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: golden))).documents
    }

    /// The three ways a SentencePiece tokenizer reaches us.
    enum Source: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case mixtralGGUF = "mixtral GGUF", mixtralJSON = "mixtral tokenizer.json", mixtralModel = "mixtral tokenizer.model"
        case ernieJSON = "ernie tokenizer.json", ernieModel = "ernie tokenizer.model", ernieGGUF = "ernie GGUF"

        var testDescription: String { rawValue }

        /// The tokenizer, and (for folders of only tokenizer.model) the scratch folder that must outlive it.
        func load() throws -> (Tokenizer, TemporaryDirectory?) {
            switch self {
            case .mixtralGGUF: return (try Tokenizer(spec: TokenizerSpec(modelPath: mixtral + "/tiny-mixtral-spm-bf16.gguf")), nil)
            case .ernieGGUF: return (try Tokenizer(spec: TokenizerSpec(modelPath: ernie + "/tiny-ernie45-moe-bf16.gguf")), nil)
            case .mixtralJSON: return (try Tokenizer(spec: TokenizerSpec(modelPath: mixtral)), nil)
            case .ernieJSON: return (try Tokenizer(spec: TokenizerSpec(modelPath: ernie)), nil)
            case .mixtralModel, .ernieModel:
                // A folder with config.json and tokenizer.model only: no tokenizer.json, no tokenizer_config.json.
                let source = self == .mixtralModel ? mixtral : ernie
                let folder = try TemporaryDirectory()
                for name in ["config.json", "tokenizer.model"] {
                    try FileManager.default.copyItem(atPath: source + "/" + name, toPath: folder.path + "/" + name)
                }
                #expect(TokenizerSpec.file(forModel: folder.path).hasSuffix("/tokenizer.model"))
                return (try Tokenizer(spec: TokenizerSpec(modelPath: folder.path)), folder)
            }
        }
    }
}

@Suite(.enabled(if: SentencePieceReference.isAvailable, "SentencePiece reference models not found under \(ReferenceData.directory)"))
struct SentencePieceReferenceTests {
    @Test("ids equal tokenizer-golden.json on all 904 documents", arguments: SentencePieceReference.Source.allCases)
    func golden(source: SentencePieceReference.Source) throws {
        let (tokenizer, folder) = try source.load()
        defer { withExtendedLifetime(folder) {} }
        let documents = try SentencePieceReference.documents()
        #expect(documents.count == 904)
        #expect(tokenizer.bosTokenId == 1 && tokenizer.eosTokenId == 2 && tokenizer.addsBosToken && !tokenizer.addsEosToken)
        var mismatches = 0
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for (index, document) in documents.enumerated() {
                // ERNIE's GGUF says tokenizer.ggml.add_space_prefix = false (llama.cpp's converter writes
                // tokenizer_config.json's `add_prefix_space: null` as false), so llama.cpp, and we, put no ▁
                // before the text. Giving the space explicitly must then reproduce the golden ids exactly.
                let ids = source == .ernieGGUF
                    ? tokenizer.withSpecialEnds(tokenizer.encode(" " + document.text))
                    : tokenizer.encodePrompt(document.text)
                if ids != document.ids {
                    mismatches += 1
                    if mismatches <= 3 {
                        let at = try #require(zip(ids, document.ids).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                            ?? Optional(min(ids.count, document.ids.count)))
                        Issue.record("document \(index) differs at token \(at): got \(Array(ids[at...].prefix(6))), expected \(Array(document.ids[at...].prefix(6)))")
                    }
                }
            }
        }
        print("[\(source.rawValue)] \(documents.count) documents in \(elapsed)")
        #expect(mismatches == 0)
    }

    @Test("decode inverts encode on every document", arguments: SentencePieceReference.Source.allCases)
    func roundTrip(source: SentencePieceReference.Source) throws {
        let (tokenizer, folder) = try source.load()
        defer { withExtendedLifetime(folder) {} }
        for document in try SentencePieceReference.documents() {
            let ids = tokenizer.encodePrompt(document.text)
            // Compare scalars: String == would accept a canonically equivalent but different text.
            #expect(Array(tokenizer.decode(ids).unicodeScalars) == Array(document.text.unicodeScalars))
            // Generation streams token by token, keeping every space: the text after the BOS, with the
            // prefix space that encoding added where it added one.
            var stream = UTF8StreamDecoder()
            let streamed = ids.map { stream.decode(tokenizer.decodeBytes([$0])) }.joined() + stream.finish()
            let prefix = source == .ernieGGUF ? "" : " "
            #expect(streamed == prefix + document.text)
        }
    }

    /// SentencePieceCrossCheck.swift: llama.cpp's test texts and more (leading and repeated spaces,
    /// special-token text, characters missing from the vocabulary) with the ids of HF `tokenizers` and of the
    /// `sentencepiece` library. The GGUF file follows llama.cpp, which equals sentencepiece on unparsed text.
    @Test("awkward texts: HF tokenizers' ids for tokenizer.json, the sentencepiece library's for tokenizer.model and GGUF")
    func crossCheck() throws {
        let (json, _) = try SentencePieceReference.Source.mixtralJSON.load()
        let (model, folder) = try SentencePieceReference.Source.mixtralModel.load()
        defer { withExtendedLifetime(folder) {} }
        let (gguf, _) = try SentencePieceReference.Source.mixtralGGUF.load()
        #expect(sentencePieceCrossCheck.count > 50)
        for item in sentencePieceCrossCheck {
            #expect(json.encode(item.text) == item.json, "\(item.text.debugDescription)")
            #expect(model.encode(item.text, parseSpecial: false) == item.model, "\(item.text.debugDescription)")
            #expect(gguf.encode(item.text, parseSpecial: false) == item.model, "\(item.text.debugDescription)")
        }
    }

    @Test("the three files describe the same vocabulary")
    func filesAgree() throws {
        let gguf = try TokenizerSpec(modelPath: SentencePieceReference.mixtral + "/tiny-mixtral-spm-bf16.gguf")
        let json = try TokenizerSpec(tokenizerJSON: SentencePieceReference.mixtral + "/tokenizer.json")
        let model = try TokenizerSpec(sentencePieceModel: SentencePieceReference.mixtral + "/tokenizer.model")
        // Compared by count of differences, so that a failure does not print 4,096 entries.
        #expect(gguf.tokens == model.tokens && json.tokens == model.tokens)
        #expect(zip(gguf.scores, model.scores).filter { $0 != $1 }.isEmpty)
        #expect(zip(gguf.tokenTypes, model.tokenTypes).filter { $0 != $1 }.isEmpty)
        #expect(gguf.tokenTypes[0] == .unknown && gguf.tokenTypes[1] == .control && gguf.tokenTypes[3] == .byte)
        // tokenizer.json names no unk_token (model.unk_token is null), so there <unk> is an added control token.
        #expect(json.tokenTypes[0] == .control)
        #expect(zip(json.tokenTypes, model.tokenTypes).dropFirst().filter { $0 != $1 }.isEmpty)
        guard case let .sentencePiece(options) = json.kind else { Issue.record("tokenizer.json is not SentencePiece"); return }
        #expect(options.merging == .byRank && options.spacePrefix == .first && !options.splitsAtSpaces && options.byteFallback)
    }
}

/// llama.cpp's own tokenizer tests for its SentencePiece vocabularies (llama-spm = Llama 2, phi-3): the
/// `.inp` texts and `.out` ids in the llama.cpp source that Tools/scripts/build-llamacpp.sh unpacks, encoded
/// as test-tokenizer-0 does (no BOS, special text not parsed). Skipped when that source is absent.
enum LlamaCppVocabularies {
    static let models: String? = {
        let cache = ProcessInfo.processInfo.environment["SWIFTMOE_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swiftmoe").path
        let path = cache + "/llama.cpp-0.3.36/src/vendor/llama.cpp/models"
        return FileManager.default.fileExists(atPath: path + "/ggml-vocab-llama-spm.gguf.out") ? path : nil
    }()

    /// test-tokenizer-0's format: texts separated by "\n__ggml_vocab_test__\n", one line of ids per text.
    static func cases(_ name: String) throws -> [(text: [UInt8], ids: [Int])] {
        let base = models! + "/ggml-vocab-\(name).gguf"
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".inp")))
        let separator = Array("\n__ggml_vocab_test__\n".utf8)
        var texts: [[UInt8]] = [], position = 0
        while position < raw.count {
            var next = position
            while next + separator.count <= raw.count && !raw[next ..< next + separator.count].elementsEqual(separator) { next += 1 }
            if next + separator.count > raw.count { texts.append(Array(raw[position...])); break }
            texts.append(Array(raw[position ..< next]))
            position = next + separator.count
        }
        let lines = try String(contentsOfFile: base + ".out", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        return texts.enumerated().map { i, text in
            (text, i < lines.count ? lines[i].split(separator: " ").compactMap { Int($0) } : [-1])
        }
    }
}

@Suite(.enabled(if: LlamaCppVocabularies.models != nil, "llama.cpp source not found (run Tools/scripts/build-llamacpp.sh)"))
struct LlamaCppSentencePieceVocabularyTests {
    @Test("ids equal llama.cpp's expected outputs", arguments: ["llama-spm", "phi-3"])
    func vocabulary(name: String) throws {
        let tokenizer = try Tokenizer(spec: TokenizerSpec(modelPath: LlamaCppVocabularies.models! + "/ggml-vocab-\(name).gguf"))
        let cases = try LlamaCppVocabularies.cases(name)
        #expect(cases.count > 30)
        for (text, expected) in cases {
            let ids = tokenizer.encode(bytes: text, parseSpecial: false)
            #expect(ids == expected, "\(String(decoding: text, as: UTF8.self).debugDescription)")
        }
    }

    /// llama-tokenize's output on this machine (llama.cpp of llama-cpp-python 0.3.36): Phi-3's special tokens
    /// drop the whitespace after them (RSTRIP, set by model name), and "</s>", typed user-defined in the file,
    /// is a control token (llama.cpp's list of control-looking tokens), so it is text under --no-parse-special.
    @Test("Phi-3: special tokens with RSTRIP, </s> as control")
    func phi3SpecialTokens() throws {
        let t = try Tokenizer.load(modelPath: LlamaCppVocabularies.models! + "/ggml-vocab-phi-3.gguf")
        #expect(t.encodePrompt("<|user|>\nHi there<|end|>\n<|assistant|>") == [1, 32010, 6324, 727, 32007, 32001])
        #expect(t.encodePrompt("<s>Hello</s> world <unk>") == [1, 1, 15043, 2, 3186, 29871, 0])
        #expect(t.encode("x </s>", parseSpecial: false) == [921, 1533, 29879, 29958])
    }
}

/// Corrupted copies of the real tokenizer.model: each either is refused with a FormatError naming the file or
/// makes a tokenizer that encodes and decodes anything without crashing (the encoder's tables and indices
/// must hold for whatever a file that parses can say).
@Suite(.enabled(if: SentencePieceReference.isAvailable, "SentencePiece reference models not found under \(ReferenceData.directory)"))
struct SentencePieceCorruptModelTests {
    @Test("mutated tokenizer.model: refused, or a tokenizer that never crashes")
    func mutatedModel() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: SentencePieceReference.mixtral + "/tokenizer.model")))
        let folder = try TemporaryDirectory()
        let path = folder.path + "/tokenizer.model"
        var state: UInt64 = 7
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var loaded = 0, refused = 0
        for round in 0 ..< 200 {
            var bytes = original
            if round % 4 == 0 {
                bytes = Array(bytes.prefix(next() % bytes.count))
            } else {
                // Mostly in the first pieces and in the specs at the end, where the interesting fields are.
                for _ in 0 ... next() % 3 {
                    let at = next() % 2 == 0 ? next() % 512 : bytes.count - 1 - next() % 400
                    bytes[at] = UInt8(truncatingIfNeeded: next())
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let tokenizer = try Tokenizer.load(modelPath: folder.path)
                loaded += 1
                let ids = tokenizer.encodePrompt("In the beginning <s> God € created 😀\n\t  x") + tokenizer.encode(bytes: [0xFF, 0x41, 0xE2, 0x96])
                _ = tokenizer.decode(ids + [-1, 1 << 40])
            } catch let e as FormatError {
                refused += 1
                #expect(e.description.hasPrefix(path + ": ") && !e.description.contains("\n"), "\(e)")
            }
        }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
    }
}
