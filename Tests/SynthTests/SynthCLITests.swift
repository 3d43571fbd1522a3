import Foundation
import MoEFormats
import Testing
import TestSupport

/// The `moe-synth` binary as a user runs it: output, errors, Ctrl-C.
@Suite(.enabled(if: Shared.tiny != nil && FileManager.default.fileExists(atPath: SynthCLI.binary),
                "moe-synth binary or ../shared absent"))
struct SynthCLITests {
    @Test("writes the file, nothing else left behind; progress and a summary on stderr, nothing on stdout")
    func writes() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("tiny.gguf")
        let r = try SynthCLI.run(["--shape", "tiny", "--type", "q8_0", "--format", "gguf", "--out", out,
                                  "--vocab-from", Shared.tiny!, "--check"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["tiny.gguf"])
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("wrote") && r.stderr.contains("MB/s") && r.stderr.contains("busiest expert"), "\(r.stderr)")
        _ = try GGUFFile(path: out)
    }

    @Test("bad input: one 'moe-synth: error:' line, exit status 1, no output")
    func errors() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let existing = dir.file("exists.gguf")
        _ = FileManager.default.createFile(atPath: existing, contents: Data("x".utf8))
        let base = ["--vocab-from", Shared.tiny!]
        let cases: [([String], String)] = [
            (["--shape", "tiny", "--type", "q5_9", "--format", "gguf", "--out", dir.file("a.gguf")], "unknown --type"),
            (["--shape", "tiny", "--type", "q4_0", "--format", "safetensors", "--out", dir.file("b")], "safetensors holds"),
            (["--shape", "tiny", "--type", "q4_0", "--format", "gguf", "--out", existing], "exists"),
            (["--shape", "custom", "--layers", "2", "--type", "q4_0", "--format", "gguf", "--out", dir.file("c.gguf")], "--shape custom needs"),
            (["--shape", "tiny", "--hidden", "48", "--type", "q4_0", "--format", "gguf", "--out", dir.file("d.gguf")], "not a multiple of 32"),
            (["--shape", "tiny", "--type", "q4_0", "--format", "gguf", "--out", dir.file("e.gguf"), "--vocab-from", dir.file("none")], "no such file"),
            (["--shape", "tiny", "--type", "q4_0", "--format", "gguf", "--out", dir.file("nodir/f.gguf")], "cannot create"),
            (["--shape", "tiny", "--type", "q4_0", "--format", "gguf", "--out", dir.path, "--force"], "not a model folder"),
        ]
        for (args, text) in cases {
            let r = try SynthCLI.run(base + args)
            let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("moe-synth: error:") }
            #expect(r.status == 1, "\(args): status \(r.status), \(r.stderr)")
            #expect(lines.count == 1 && lines[0].contains(text), "\(args): \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["exists.gguf"])
    }

    @Test("Ctrl-C while writing: exit status 130, neither OUT nor OUT.partial remains")
    func interrupt() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let out = dir.file("big.gguf")
        // ≈ 0.75 GB at one thread: many seconds of work, stopped as soon as the partial file appears.
        let r = try SynthCLI.run(["--shape", "olmoe-like", "--layers", "3", "--type", "q4_0", "--format", "gguf", "--out", out,
                                  "--vocab-from", Shared.tiny!, "--threads", "1"]) { p in
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: out + ".partial"), p.isRunning, Date() < deadline { usleep(20_000) }
            usleep(200_000)
            p.interrupt() // SIGINT
        }
        #expect(r.status == 130, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
