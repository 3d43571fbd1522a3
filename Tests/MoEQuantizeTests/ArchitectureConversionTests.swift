import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MoEFormats
import MoEKernels
import MoEModel
@testable import MoEQuantize
import Testing
import TestSupport

/// moe-quantize on the round-2 checkpoints (../shared/models/tiny-*: DeepSeek-V3/V2 with MLA, GLM-4.5,
/// ERNIE-4.5, Mixtral with a SentencePiece tokenizer), made by transformers itself, each with the bf16 GGUF
/// llama.cpp's own converter made from the folder.
enum RoundTwo {
    static let models = ["tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-glm4-moe", "tiny-ernie45-moe", "tiny-mixtral-spm"]
    static var root: String { (SharedData.root ?? "/nonexistent") + "/models" }
    static var available: Bool { FileManager.default.fileExists(atPath: root + "/tiny-deepseek-v3/golden.json") }
    static func folder(_ model: String) -> String { root + "/" + model }
    static func bf16(_ model: String) -> String { root + "/\(model)/\(model)-bf16.gguf" }

    struct Golden: Decodable {
        struct Prompt: Decodable { let text: String; let ids: [Int]; let greedy_ids: [Int] }
        let prompts: [Prompt]
    }

    static func golden(_ model: String) throws -> Golden {
        let data = try #require(FileManager.default.contents(atPath: folder(model) + "/golden.json"))
        return try JSONDecoder().decode(Golden.self, from: data)
    }

    static func quantize(_ model: String, _ rules: TypeRules, to out: String) throws {
        try QuantizeJob(input: folder(model), options: QuantizeOptions(rules: rules, threads: 2)).write(to: out)
    }

    static func lastLogits(_ model: Model, _ ids: [Int], precision: ActivationPrecision = .f32) throws -> [Float] {
        let state = InferenceState(config: model.config, contextLength: 128, threads: 2, precision: precision)
        return Array(try model.forward(ids, state: state, logits: .last))
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }
}

@Suite(.enabled(if: RoundTwo.available, "../shared/models/tiny-deepseek-v3 (round 2) is absent"), .serialized)
struct ArchitectureConversionTests {
    /// The bar of issue 14: our F32 GGUF of the folder is the same model. Logits within 1e-4 of the folder's
    /// (the f32 path on both; the only freedom is the order of float operations in the rotary/scale constants
    /// that GGUF stores in another form, e.g. DeepSeek's softmax scale through yarn_log_multiplier).
    @Test("HF folder → F32 GGUF: the folder's logits (1e-4) and tokens", arguments: RoundTwo.models)
    func sameLogits(model: String) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("f32.gguf")
        try RoundTwo.quantize(model, .uniform(.f32), to: out)
        let hf = try Model(path: RoundTwo.folder(model)), gguf = try Model(path: out)
        #expect(gguf.config.architecture == hf.config.architecture)
        #expect(gguf.config.latentAttention == hf.config.latentAttention.map {
            var m = $0
            m.latentNormEps = hf.config.rmsNormEps // GGUF has one epsilon (llama.cpp's reading)
            return m
        })
        // The group score is moot without groups (the GGUF reader picks it by the scoring function).
        var routing = gguf.config.routing
        if !routing.isGrouped { routing.groupScore = hf.config.routing.groupScore }
        #expect(routing == hf.config.routing)
        #expect(gguf.config.denseLayers == hf.config.denseLayers && gguf.config.sharedExpertFFN == hf.config.sharedExpertFFN)
        for prompt in try RoundTwo.golden(model).prompts {
            #expect(gguf.tokenizer.encodePrompt(prompt.text) == prompt.ids, "\(model): GGUF tokenizer on \(prompt.text)")
            let a = try RoundTwo.lastLogits(hf, prompt.ids), b = try RoundTwo.lastLogits(gguf, prompt.ids)
            let diff = RoundTwo.maxDifference(a, b)
            #expect(diff <= 1e-4, "\(model): max |logit diff| \(diff) on \(prompt.text)")
        }
    }

    /// Every tensor llama.cpp's converter wrote is in our file with its name, shape and values (bf16 widened
    /// exactly to f32): MLA's transposed split of kv_b_proj, GLM's post_attention_norm, ERNIE's bias. And every
    /// metadata key it wrote has its value, but for the differences listed (each with its reason).
    @Test("same tensors and metadata as llama.cpp's converter", arguments: RoundTwo.models)
    func likeTheConverter(model: String) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("f32.gguf")
        try RoundTwo.quantize(model, .uniform(.f32), to: out)
        let ours = try GGUFFile(path: out), theirs = try GGUFFile(path: RoundTwo.bf16(model))
        #expect(Set(ours.tensors.map(\.name)) == Set(theirs.tensors.map(\.name)))
        for t in theirs.tensors {
            guard let o = ours.tensor(t.name) else { continue }
            // ERNIE's selection bias is [1, experts] in the converter's file, [experts] (llama.cpp's shape) in ours.
            #expect(o.shape.drop { $0 == 1 }.elementsEqual(t.shape.drop { $0 == 1 }), "\(t.name): \(o.shape) vs \(t.shape)")
            let n = t.shape.reduce(1, *)
            var a = [Float](repeating: 0, count: n), b = a
            a.withUnsafeMutableBufferPointer { Dequantize.row(type: o.type, src: o.bytes.baseAddress!, dst: $0.baseAddress!, count: n) }
            b.withUnsafeMutableBufferPointer { Dequantize.row(type: t.type, src: t.bytes.baseAddress!, dst: $0.baseAddress!, count: n) }
            #expect(a == b, "\(t.name): values differ")
        }
        let arch = theirs.architecture ?? ""
        // Keys that differ on purpose. general.name & co: the converter derives them from the folder's name
        // ("Tiny Deepseek v3", version "v3"); we write the folder name. file_type: f32 here, bf16 there.
        var differ: Set<String> = ["general.name", "general.version", "general.basename", "general.file_type"]
        switch model {
        case "tiny-glm4-moe":
            // The converter counts the (absent) next-token-prediction layer; we write only the layers we write.
            differ.formUnion(["glm4moe.block_count", "glm4moe.nextn_predict_layers"])
        case "tiny-ernie45-moe":
            // The shared experts' real width (48), not intermediate_size / num_key_value_heads (128), which
            // llama.cpp would refuse; add_space_prefix: the converter writes tokenizer_config's null as false,
            // which makes llama.cpp tokenize unlike transformers' LlamaTokenizer; we leave SentencePiece's default.
            differ.formUnion(["ernie4_5-moe.expert_shared_feed_forward_length", "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_sep_token"])
        case "tiny-mixtral-spm":
            differ.insert("tokenizer.ggml.add_sep_token") // gguf-py's SpecialVocab reading of the post-processor
        default: break
        }
        for key in theirs.metadataKeys where !differ.contains(key) {
            #expect(ours.metadata[key] == theirs.metadata[key], "\(model): \(key): \(String(describing: ours.metadata[key])) vs \(String(describing: theirs.metadata[key]))")
        }
        for key in ours.metadataKeys where theirs.metadata[key] == nil {
            #expect(["glm4moe.expert_group_count", "glm4moe.expert_group_used_count", "\(arch).nextn_predict_layers"].contains(key) || differ.contains(key),
                    "\(model): extra key \(key)")
        }
        if model == "tiny-glm4-moe" {
            #expect(ours.metadata["glm4moe.block_count"]?.int == 3 && ours.metadata["glm4moe.nextn_predict_layers"]?.int == 0)
        }
        if model == "tiny-ernie45-moe" {
            #expect(ours.metadata["ernie4_5-moe.expert_shared_feed_forward_length"]?.int == 48)
        }
    }

    /// Q8_0 and Q4_0 files load and run, and the default path (8-bit activations) stays close to the float32
    /// path in perplexity on each architecture: 4,096 tokens of valid.txt (windows of 512), a few seconds a
    /// model. The bound here is 0.5%, not issue 14's 0.1%: these random-weight models route by near-ties, and
    /// the 8-bit inputs flip a few tokens' expert choices, whose large NLL changes do not average out over
    /// 4,096 tokens (DeepSeek-V3 Q8_0: +0.35% on the first 4,096 tokens, +0.07% on 65,536, the per-window
    /// differences concentrated in two of eight windows). A real defect of the integer path moves perplexity
    /// by far more. The 0.1% figure is checked on 65,536 tokens by `longQuantizedActivations`.
    @Test("Q8_0 and Q4_0 run; 8-bit activations within 0.5% of f32 in perplexity (4,096 tokens)", arguments: RoundTwo.models)
    func quantizedActivations(model: String) throws {
        try Self.compareActivations(model: model, tokens: 4096, bound: 0.005)
    }

    /// Issue 14's Must-show: within 0.1% on each architecture, on 65,536 tokens (about 3 minutes a model on
    /// two cores, so opt-in: MOE_LONG_TESTS=1).
    @Test("Q8_0 and Q4_0: 8-bit activations within 0.1% of f32 in perplexity (65,536 tokens)",
          .enabled(if: ProcessInfo.processInfo.environment["MOE_LONG_TESTS"] != nil, "long test: set MOE_LONG_TESTS=1"),
          arguments: RoundTwo.models)
    func longQuantizedActivations(model: String) throws {
        try Self.compareActivations(model: model, tokens: 65_536, bound: 0.001)
    }

    static func compareActivations(model: String, tokens count: Int, bound: Double) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let text = try String(contentsOfFile: SharedData.root! + "/data/valid.txt", encoding: .utf8)
        for type in [TensorType.q8_0, .q4_0] {
            let out = dir.file("\(type).gguf")
            try RoundTwo.quantize(model, .uniform(type), to: out)
            let m = try Model(path: out)
            let tokens = Array(m.tokenizer.encodePrompt(String(text.prefix(count * 8))).prefix(count))
            #expect(tokens.count == count)
            let f32 = try m.perplexity(tokens: tokens, threads: 2, precision: .f32).perplexity
            let q8 = try m.perplexity(tokens: tokens, threads: 2, precision: .q8).perplexity
            let rel = abs(q8 / f32 - 1)
            #expect(f32.isFinite && f32 > 1 && q8.isFinite)
            #expect(rel <= bound, "\(model) \(type): q8 \(q8) vs f32 \(f32): \(rel * 100)%")
        }
    }
}

/// llama.cpp loads our V3, GLM, ERNIE and Mixtral (SentencePiece) files and, with f32 weights and an f32 KV
/// cache, its greedy continuation is ours, byte for byte. (DeepSeek-V2 without a q LoRA is refused by
/// llama.cpp unless the file has 26 or 27 layers: expected, see ../shared/README.md; our engine runs it.)
@Suite(.enabled(if: RoundTwo.available && LlamaCpp.completion != nil, "llama.cpp's llama-completion or ../shared (round 2) is absent"),
       .serialized)
struct LlamaCppRunsRoundTwoTests {
    static let tokens = 16

    @Test(arguments: ["tiny-deepseek-v3", "tiny-glm4-moe", "tiny-ernie45-moe", "tiny-mixtral-spm"])
    func sameGreedyTokens(model: String) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("f32.gguf")
        try RoundTwo.quantize(model, .uniform(.f32), to: out)
        let ours = try Model(path: out)
        let prompt = try RoundTwo.golden(model).prompts[0]
        // Ours: greedy from the prompt as our GGUF tokenizer encodes it (the golden ids: checked above).
        let state = InferenceState(config: ours.config, contextLength: 128, threads: 2)
        var logits = Array(try ours.forward(ours.tokenizer.encodePrompt(prompt.text), state: state, logits: .last))
        var produced: [Int] = []
        for _ in 0 ..< Self.tokens {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            produced.append(next)
            logits = Array(try ours.forward([next], state: state, logits: .last))
        }
        // llama-completion prints the continuation's pieces (special tokens print nothing without --special).
        let expected = ours.tokenizer.decodeBytes(produced.filter { !ours.tokenizer.isSpecial($0) })
        // llama.cpp prints through an asynchronous log thread that can lose its last lines at exit under load
        // (its stderr log is cut at the same moment): a run whose output stops short is run again.
        var run = try LlamaCpp.complete(model: out, prompt: prompt.text, tokens: Self.tokens)
        for _ in 0 ..< 4 where run.stdout.count < expected.count && expected.starts(with: run.stdout) {
            run = try LlamaCpp.complete(model: out, prompt: prompt.text, tokens: Self.tokens)
        }
        #expect(run.status == 0, "\(model): llama-completion failed: \(run.stderr.suffix(600))")
        // llama-completion ends its output with an empty line.
        let printed = run.stdout.count >= expected.count && run.stdout.dropFirst(expected.count).allSatisfy { $0 == 0x0A } ? Array(run.stdout.prefix(expected.count)) : run.stdout
        #expect(printed == expected, "\(model): llama.cpp \(String(decoding: run.stdout, as: UTF8.self).debugDescription) vs ours \(String(decoding: expected, as: UTF8.self).debugDescription) (ids \(produced)); llama.cpp's log: \(run.stderr.suffix(1500))")
    }

    @Test("DeepSeek-V2 without q LoRA: llama.cpp refuses it (q_lora_rank), as it does the converter's file")
    func deepSeekV2Refused() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("f32.gguf")
        try RoundTwo.quantize("tiny-deepseek-v2", .uniform(.f32), to: out)
        #expect(try GGUFFile(path: out).metadata["deepseek2.attention.q_lora_rank"] == nil)
        var run = try LlamaCpp.complete(model: out, prompt: "In the beginning", tokens: 4)
        for _ in 0 ..< 4 where !run.stderr.contains("q_lora_rank") { run = try LlamaCpp.complete(model: out, prompt: "In the beginning", tokens: 4) }
        #expect(run.status != 0 && run.stderr.contains("q_lora_rank"), "llama.cpp: \(run.status) \(run.stderr.suffix(400))")
    }
}

extension LlamaCpp {
    struct Run { let status: Int32; let stdout: [UInt8]; let stderr: String }

    /// Greedy continuation with llama-completion: f32 KV cache, no end-of-text stop, no prompt echo; its
    /// output in files read after it exits.
    static func complete(model: String, prompt: String, tokens: Int) throws -> Run {
        let dir = try TempDir("llama-completion")
        defer { dir.cleanup() }
        let (outPath, errPath) = (dir.file("stdout"), dir.file("stderr"))
        let args = [completion!, "-m", model, "-p", prompt, "-n", "\(tokens)", "--temp", "0", "--ignore-eos", "-no-cnv", "--no-display-prompt",
                    "-ctk", "f32", "-ctv", "f32", "-c", "256", "-t", "1", "--no-warmup", "-s", "1"] // one thread: llama-completion 0.3.36 with two sometimes exits 0 having written nothing
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, args[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw CocoaError(.executableLoad, userInfo: [NSFilePathErrorKey: args[0]]) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS; a signal reads as 128 + its number, as a shell says it.
        let exit = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let o = FileManager.default.contents(atPath: outPath) ?? Data(), e = FileManager.default.contents(atPath: errPath) ?? Data()
        return Run(status: exit, stdout: [UInt8](o), stderr: String(decoding: e, as: UTF8.self))
    }
}
