import Foundation
import MoEFormats
@testable import MoEQuantize
import MoESynth
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Every failure ends with one clear error and no output file (neither OUTPUT nor OUTPUT.partial).
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct BadInputTests {
    static var tiny: String { SharedData.tiny! }
    static let cli = ToolBinary("moe-quantize")

    /// A small bf16 synthetic Qwen3-MoE folder or GGUF file written by moe-synth's library.
    func synth(_ dir: TempDir, format: Synthesizer.Format, shape: SynthShape = .tiny) throws -> String {
        let out = dir.file(format == .gguf ? "synth.gguf" : "synth")
        try Synthesizer(shape: shape, type: .bf16, format: format, vocab: try VocabSource(path: Self.tiny), seed: 3, threads: 2)
            .write(to: out)
        return out
    }

    func expectNoOutput(_ out: String) {
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
    }

    func options(_ t: TensorType = .q4_0) -> QuantizeOptions { QuantizeOptions(rules: .uniform(t), threads: 2) }

    @Test func unknownArchitecture() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let folder = try synth(dir, format: .safetensors)
        let configPath = folder + "/config.json"
        let config = try String(contentsOfFile: configPath, encoding: .utf8).replacingOccurrences(of: "\"qwen3_moe\"", with: "\"gpt_oss\"")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        #expect(throws: FormatError.self) { try QuantizeJob(input: folder, options: options()) }
    }

    @Test func missingTensor() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let src = try GGUFFile(path: try synth(dir, format: .gguf))
        let out = dir.file("missing.gguf")
        let w = try GGUFWriter(path: out)
        for key in src.metadataKeys { try w.setMetadata(key, src.metadata[key]!) }
        for t in src.tensors where t.name != "blk.1.ffn_down_exps.weight" {
            try w.addTensor(name: t.name, type: t.type, shape: t.shape, data: Data(t.bytes))
        }
        try w.finish()
        #expect(throws: QuantizeError.missingTensor(path: out, name: "blk.1.ffn_down_exps.weight")) {
            try QuantizeJob(input: out, options: options())
        }
    }

    @Test func missingExpertInAFolder() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let folder = try synth(dir, format: .safetensors)
        // Rewrite the folder as one shard without one expert's matrix. The old shards stay mapped (and
        // readable) after their names are removed.
        let src = try SafetensorsCheckpoint(directory: folder)
        let drop = "model.layers.0.mlp.experts.5.up_proj.weight"
        for f in try FileManager.default.contentsOfDirectory(atPath: folder) where f.hasSuffix(".safetensors") || f.hasSuffix(".index.json") {
            try FileManager.default.removeItem(atPath: folder + "/" + f)
        }
        let w = SafetensorsWriter(path: folder + "/model.safetensors")
        for t in src.allTensors where t.name != drop {
            try w.addTensor(name: t.name, type: t.type, shape: t.shape, data: Data(t.bytes))
        }
        try w.finish()
        #expect(throws: QuantizeError.missingTensor(path: folder, name: drop)) { try QuantizeJob(input: folder, options: options()) }
    }

    @Test func quantizedInputIsRefused() throws {
        #expect {
            try QuantizeJob(input: Self.tiny + "/tiny-qwen3moe-Q8_0.gguf", options: options())
        } throws: { e in
            String(describing: e).contains("must be F32, F16 or BF16")
        }
    }

    /// Rows that do not divide into 32-element blocks: stored in F16, as planned and said; never wrong values.
    @Test func rowsNotDivisibleFallBack() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var shape = SynthShape.tiny
        shape.hidden = 48
        shape.heads = 3
        shape.kvHeads = 3
        shape.headDim = 16
        let input = try synth(dir, format: .gguf, shape: shape)
        let job = try QuantizeJob(input: input, options: options())
        let q = job.plan.first { $0.name == "blk.0.attn_q.weight" }!
        #expect(q.type == .f16 && q.fellBack)
        let down = job.plan.first { $0.name == "blk.0.ffn_down_exps.weight" }! // rows of expertFFN = 32
        #expect(down.type == .q4_0 && !down.fellBack)
        try job.write(to: dir.file("out.gguf"))
        #expect(try GGUFFile(path: dir.file("out.gguf")).tensor("blk.0.attn_q.weight")?.type == .f16)
    }

    @Test func unwritableOutput() throws {
        let out = "/nonexistent-folder-\(UUID().uuidString)/x.gguf"
        #expect(throws: WriterError.self) { try QuantizeJob(input: Self.tiny, options: options()).write(to: out) }
        let r = try Self.cli.run([Self.tiny, "/proc/moe-quantize-test.gguf", "--type", "q4_0"])
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("moe-quantize: error: "))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func existingOutputNeedsForce() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("exists.gguf")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: out))
        let r = try Self.cli.run([Self.tiny, out, "--type", "q8_0"])
        #expect(r.status == 1 && r.stderr.contains("exists (add --force"))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep me")
        let same = try Self.cli.run([Self.tiny + "/tiny-qwen3moe-bf16.gguf", Self.tiny + "/tiny-qwen3moe-bf16.gguf", "--type", "q8_0", "--force"])
        #expect(same.status == 1 && same.stderr.contains("is the input"))
    }

    @Test func inputChangingWhileRead() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let input = dir.file("in.gguf")
        try FileManager.default.copyItem(atPath: Self.tiny + "/tiny-qwen3moe-bf16.gguf", toPath: input)
        let out = dir.file("out.gguf")
        var options = self.options()
        options.chunkBytes = 1 << 16
        let job = try QuantizeJob(input: input, options: options)
        var calls = 0
        #expect {
            try job.write(to: out) { _ in
                calls += 1
                if calls == 3 { truncate(input, 1 << 20) } // the file shrinks to 1 MiB under the reader
            }
        } throws: { e in
            guard let q = e as? QuantizeError, case .inputChanged = q else { return false }
            return true
        }
        expectNoOutput(out)
    }

    @Test func interruptionLeavesNothing() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("out.gguf")
        var calls = 0
        #expect(throws: QuantizeError.interrupted) {
            try QuantizeJob(input: Self.tiny, options: options()).write(to: out) { _ in
                calls += 1
                if calls == 5 { throw QuantizeError.interrupted }
            }
        }
        expectNoOutput(out)
    }

    /// A full disk: a 2 MiB tmpfs (needs root and mount(8); skipped with a note otherwise).
    @Test func fullDisk() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let mnt = dir.file("small")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]
        mount.standardError = FileHandle.nullDevice
        guard (try? mount.run()) != nil else { return }
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            print("fullDisk: cannot mount a tmpfs here (not root?); the full-disk case is not exercised")
            return
        }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mnt]
            try? umount.run()
            umount.waitUntilExit()
        }
        let out = mnt + "/out.gguf"
        #expect {
            try QuantizeJob(input: Self.tiny, options: options()).write(to: out)
        } throws: { e in
            String(describing: e).contains("No space left on device")
        }
        expectNoOutput(out)
    }
}
