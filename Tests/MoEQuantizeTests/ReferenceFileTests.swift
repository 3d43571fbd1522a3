import Foundation
import MoEFormats
@testable import MoEQuantize
import Testing
import TestSupport

/// moe-quantize against llama.cpp's own files of the reference model: with ggml's rounding it must write
/// llama-quantize's bytes, tensor for tensor, and from the Hugging Face folder the metadata llama.cpp's
/// converter writes.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct ReferenceFileTests {
    static var tiny: String { SharedData.tiny! }

    func quantize(_ input: String, rules: TypeRules, rounding: Rounding, in dir: TempDir, name: String) throws -> GGUFFile {
        var options = QuantizeOptions(rules: rules, threads: 2)
        options.rounding = rounding
        let out = dir.file(name)
        try QuantizeJob(input: input, options: options).write(to: out)
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        return try GGUFFile(path: out)
    }

    /// Every tensor of `theirs` is in `ours` with the same type, shape and bytes.
    func expectSameTensors(_ ours: GGUFFile, _ theirs: GGUFFile) {
        #expect(ours.tensors.count == theirs.tensors.count)
        for t in theirs.tensors {
            guard let o = ours.tensor(t.name) else { Issue.record("missing \(t.name)"); continue }
            #expect(o.type == t.type && o.shape == t.shape, "\(t.name): \(o.type) \(o.shape) vs \(t.type) \(t.shape)")
            #expect(o.bytes.elementsEqual(t.bytes), "\(t.name): bytes differ")
        }
    }

    @Test("--rounding reference writes llama-quantize's bytes", arguments: [("q4_0", "tiny-qwen3moe-Q4_0.gguf"), ("q8_0", "tiny-qwen3moe-Q8_0.gguf")])
    func llamaQuantizeBytes(type: String, file: String) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let theirs = try GGUFFile(path: Self.tiny + "/" + file)
        let rules = TypeRules.uniform(TensorType(name: type)!)
        for input in [Self.tiny + "/tiny-qwen3moe-bf16.gguf", Self.tiny] {
            let ours = try quantize(input, rules: rules, rounding: .reference, in: dir, name: "\(type).gguf")
            expectSameTensors(ours, theirs)
            for key in theirs.metadataKeys where key != "general.name" {
                #expect(ours.metadata[key] == theirs.metadata[key], "\(input): metadata \(key)")
            }
            #expect(Set(ours.metadataKeys) == Set(theirs.metadataKeys))
            try FileManager.default.removeItem(atPath: dir.file("\(type).gguf"))
        }
    }

    @Test("the safetensors folder and the bf16 GGUF give the same file")
    func foldersAndGGUFAgree() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let a = try quantize(Self.tiny, rules: .uniform(.q4_0), rounding: .optimal, in: dir, name: "a.gguf")
        let b = try quantize(Self.tiny + "/tiny-qwen3moe-bf16.gguf", rules: .uniform(.q4_0), rounding: .optimal, in: dir, name: "b.gguf")
        expectSameTensors(a, b)
    }

    @Test("the output does not depend on the thread count or the chunk size")
    func threadsAndChunks() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var outputs: [Data] = []
        for (threads, chunk) in [(1, 8 << 20), (2, 8 << 20), (2, 4096)] {
            var options = QuantizeOptions(rules: TypeRules.Preset.smallRAM.rules, threads: threads)
            options.chunkBytes = chunk
            let out = dir.file("t\(threads)-\(chunk).gguf")
            try QuantizeJob(input: Self.tiny, options: options).write(to: out)
            outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        #expect(outputs.allSatisfy { $0 == outputs[0] })
    }

    @Test("presets and per-role types land on the right tensors")
    func presetTypes() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var rules = TypeRules.Preset.smallRAM.rules
        rules.overrides = [("blk.0.*_exps.weight", .q8_0)]
        let f = try quantize(Self.tiny, rules: rules, rounding: .optimal, in: dir, name: "p.gguf")
        #expect(f.tensor("blk.1.ffn_up_exps.weight")?.type == .q4_0)
        #expect(f.tensor("blk.0.ffn_up_exps.weight")?.type == .q8_0)
        #expect(f.tensor("blk.1.attn_q.weight")?.type == .q8_0)
        #expect(f.tensor("token_embd.weight")?.type == .q8_0)
        #expect(f.tensor("output.weight")?.type == .q8_0)
        #expect(f.tensor("blk.1.ffn_gate_inp.weight")?.type == .f32)
        #expect(f.tensor("blk.1.attn_norm.weight")?.type == .f32)
        #expect(f.metadata["general.file_type"]?.int == GGUFModelMetadata.llamaFileType(.q4_0))
    }
}

@Suite struct TypeRuleTests {
    @Test func roles() {
        #expect(TensorRole.of(name: "blk.3.ffn_down_exps.weight", shape: [8, 64, 32]) == .experts)
        #expect(TensorRole.of(name: "blk.3.ffn_gate_inp.weight", shape: [8, 64]) == .router)
        #expect(TensorRole.of(name: "blk.3.ffn_up_shexp.weight", shape: [64, 32]) == .sharedFFN)
        #expect(TensorRole.of(name: "blk.3.attn_k.weight", shape: [64, 32]) == .attention)
        #expect(TensorRole.of(name: "blk.3.attn_k_norm.weight", shape: [64]) == .vector)
        #expect(TensorRole.of(name: "blk.0.ffn_gate_inp_shexp.weight", shape: [1, 64]) == .vector)
        #expect(TensorRole.of(name: "token_embd.weight", shape: [100, 64]) == .embedding)
        #expect(TensorRole.of(name: "output.weight", shape: [100, 64]) == .output)
    }

    @Test func fallbackForRowsThatDoNotDivide() {
        let r = TypeRules.uniform(.q4_0)
        #expect(r.type(name: "blk.0.attn_q.weight", shape: [64, 48]) == (.f16, true))
        #expect(r.type(name: "blk.0.attn_q.weight", shape: [64, 64]) == (.q4_0, false))
        #expect(r.type(name: "output.weight", shape: [100, 96]) == (.q8_0, true)) // Q6_K needs 256
        #expect(r.type(name: "output.weight", shape: [100, 256]) == (.q6_K, false))
    }

    @Test(arguments: [("blk.0.*", "blk.0.attn_q.weight", true), ("blk.0.*", "blk.10.attn_q.weight", false),
                      ("*_exps.weight", "blk.3.ffn_up_exps.weight", true), ("*attn*", "blk.1.attn_v.weight", true),
                      ("output.weight", "output.weight", true), ("output.weight", "output_norm.weight", false),
                      ("blk.*.ffn_down*", "blk.2.ffn_down_exps.weight", true), ("a*b*c", "abc", true), ("a*b*c", "acb", false)])
    func globs(pattern: String, name: String, matches: Bool) {
        #expect(TypeRules.matches(name, pattern) == matches)
    }
}

/// llama.cpp itself loads and runs what moe-quantize writes (its build from Tools/scripts/build-llamacpp.sh,
/// or `$LLAMA_CPP_BIN`; skipped with a note when absent, as on a fresh CI machine).
@Suite(.enabled(if: SharedData.tiny != nil && LlamaCpp.completion != nil, "llama.cpp's llama-completion or ../shared is absent"))
struct LlamaCppLoadsTests {
    @Test(arguments: [["--type", "q4_0"], ["--preset", "small-ram", "--alignment", "page"], ["--type", "q4_1"],
                      ["--preset", "Q4_K_M"], ["--preset", "Q3_K_M"], ["--preset", "Q2_K"], ["--preset", "Q5_K_M"],
                      ["--preset", "MXFP4_MOE"], ["--type", "q5_k"], ["--type", "q5_1"]])
    func generates(args: [String]) throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("m.gguf")
        let q = try ToolBinary("moe-quantize").run([SharedData.tiny!, out] + args)
        #expect(q.status == 0, "\(q.stderr)")
        // llama-completion 0.3.36 sometimes exits 0 right after creating its thread pool, having written nothing
        // (seen 1 run in 6 by hand on an AVX-512 machine, its log ending at "threadpool init"): such a run is
        // run again, up to 4 times; a load or generation failure still fails.
        var run = try Self.complete(out)
        for _ in 0 ..< 3 where run.status == 0 && run.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            run = try Self.complete(out)
        }
        #expect(run.status == 0)
        #expect(!run.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "llama.cpp wrote nothing")
    }

    static func complete(_ model: String) throws -> (status: Int32, text: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LlamaCpp.completion!)
        p.arguments = ["-m", model, "-p", "In the beginning", "-n", "8", "--temp", "0", "-no-cnv", "--no-display-prompt", "-t", "1"] // one thread: with two, llama-completion 0.3.36 sometimes exits 0 having written nothing
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }
}

enum LlamaCpp {
    static func tool(_ name: String) -> String? {
        let dirs = [ProcessInfo.processInfo.environment["LLAMA_CPP_BIN"], NSHomeDirectory() + "/.cache/swiftmoe/llama.cpp-0.3.36/bin"]
        return dirs.compactMap { $0 }.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static let completion: String? = tool("llama-completion")
    static let quantize: String? = tool("llama-quantize")
}
