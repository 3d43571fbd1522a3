import Foundation
import MoEKernels
import Testing
import TestSupport

/// Runs the built `moe` binary (beside the test bundle) the way a user does, from the repository root.
enum CLI {
    static let tool = ToolBinary("moe")
    static var binary: String { tool.path }
    static var repoRoot: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    static func run(_ args: [String]) throws -> ToolBinary.Result { try tool.run(args, currentDirectory: repoRoot) }
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: CLI.binary), "moe binary not built beside the tests"))
struct CLITests {
    @Test("moe generate with no --model runs the default model in Weights/ and prints only the continuation")
    func defaultModel() throws {
        let r = try CLI.run(["generate", "--prompt", "In the beginning God created", "--max-tokens", "8", "--ignore-eos"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(" the king"), "stdout: \(r.stdout)")
        #expect(r.stderr.contains("tok/s"))
    }

    @Test("one generated token: '1 token' and no decode rate (a rate needs two timed steps); JSON says null")
    func oneToken() throws {
        let r = try CLI.run(["generate", "--prompt", "In the beginning", "--max-tokens", "1", "--ignore-eos"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("generated 1 token;"), "\(r.stderr)")
        #expect(!r.stderr.contains("1 tokens"))
        let j = try CLI.run(["generate", "--prompt", "In the beginning", "--max-tokens", "1", "--ignore-eos", "--json"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        let stats = try #require(obj["stats"] as? [String: Any])
        #expect(stats["decode_tokens_per_second"] is NSNull)
        let three = try CLI.run(["generate", "--prompt", "In the beginning", "--max-tokens", "3", "--ignore-eos", "--json"])
        let s3 = try #require((try JSONSerialization.jsonObject(with: Data(three.stdout.utf8)) as? [String: Any])?["stats"] as? [String: Any])
        #expect(s3["decode_tokens_per_second"] is Double)
    }

    @Test("--json prints one object with text, token_ids and stats")
    func json() throws {
        let r = try CLI.run(["generate", "--prompt", "El amor es", "-n", "5", "--ignore-eos", "--json"])
        #expect(r.status == 0)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((obj["token_ids"] as? [Int])?.count == 5)
        #expect(obj["text"] is String)
        #expect(obj["stats"] is [String: Any])
    }

    @Test("bad files end with one error line naming the file, exit status 1")
    func badFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("moe-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let notGGUF = dir.appendingPathComponent("notes.gguf").path
        try Data("hello, world".utf8).write(to: URL(fileURLWithPath: notGGUF))
        let truncated = dir.appendingPathComponent("truncated.gguf").path
        let weights = CLI.repoRoot.appendingPathComponent("Weights/tiny-qwen3moe-Q8_0.gguf").path
        try FileManager.default.contents(atPath: weights)!.prefix(3_000_000).write(to: URL(fileURLWithPath: truncated))
        for (args, path) in [(["inspect", notGGUF], notGGUF), (["generate", "-m", truncated, "-p", "x"], truncated),
                             (["perplexity", "-m", dir.path + "/missing.gguf", "-f", notGGUF], dir.path + "/missing.gguf")] {
            let r = try CLI.run(args)
            #expect(r.status == 1, "\(args): status \(r.status)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("moe: error: \(path)"), "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    @Test("inspect --cpu lists the kernel levels, the last in use, and the repacked layouts; without --cpu a path is required")
    func inspectCPU() throws {
        struct Level: Decodable { let level: Int; let features: String; let in_use: Bool }
        struct Layout: Decodable { let name: String; let type: String; let serves_prefill: Bool }
        struct Out: Decodable { let kernel_levels: [Level]; let repacked_layouts: [Layout] }
        let r = try CLI.run(["inspect", "--cpu", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try JSONDecoder().decode(Out.self, from: Data(r.stdout.utf8))
        #expect(out.kernel_levels.map(\.level) == Array(Kernels.levels))
        #expect(out.kernel_levels.first?.features == "generic")
        #expect(out.kernel_levels.filter(\.in_use).map(\.level) == [Kernels.levels.upperBound])
        let expected = RepackedRows.Layout.all.filter { $0.available() }.map(\.name)
        #expect(Set(out.repacked_layouts.map(\.name)) == Set(expected), "one layout per type, the ones this CPU runs")
        #expect(out.repacked_layouts.allSatisfy { l in RepackedRows.Layout.all.first { $0.name == l.name }?.servesAll == l.serves_prefill })
        let bare = try CLI.run(["inspect"])
        #expect(bare.status != 0 && bare.stderr.contains("--cpu"))
    }

    @Test("--threads 0 or above the processor count is refused with a clear message", arguments: ["0", "100000", "-1"])
    func badThreadCount(threads: String) throws {
        let r = try CLI.run(["generate", "--prompt", "x", "-n", "1", "--threads=\(threads)"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--threads must be between 1 and"), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test("--activations f32 and q8 both generate; f32 reproduces the float path")
    func activations() throws {
        for a in ["f32", "q8"] {
            let r = try CLI.run(["generate", "--prompt", "In the beginning", "-n", "4", "--ignore-eos", "--activations", a, "--threads", "1"])
            #expect(r.status == 0, "\(a): \(r.stderr)")
            #expect(!r.stdout.isEmpty)
        }
    }
}
