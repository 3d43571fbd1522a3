import Foundation
import MoEFormats
import MoESynth
import Testing
import TestSupport

/// The reference tokenizer in `../shared/models/tiny-qwen3moe` (env `MOE_SHARED` overrides `../shared`).
enum Shared {
    static let tiny: String? = {
        let root = ProcessInfo.processInfo.environment["MOE_SHARED"] ?? URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared").path
        let dir = root + "/models/tiny-qwen3moe"
        return FileManager.default.fileExists(atPath: dir + "/tokenizer.json") ? dir : nil
    }()
    static let skipMessage: Comment = "../shared/models/tiny-qwen3moe (the tokenizer source) is absent"
    static var vocab: VocabSource { try! VocabSource(path: tiny!) }
}

/// Writes a synthetic model with the library (the same code the CLI runs) and returns its path.
@discardableResult
func synthesize(_ shape: SynthShape = .tiny, type: TensorType, format: Synthesizer.Format, to out: String,
                seed: UInt64 = 1, threads: Int = 2, slabElements: Int? = nil, maxShardBytes: Int? = nil) throws -> String {
    var s = try Synthesizer(shape: shape, type: type, format: format, vocab: Shared.vocab, seed: seed, threads: threads)
    if let slabElements { s.producer.slabElements = slabElements }
    if let maxShardBytes { s.maxShardBytes = maxShardBytes }
    try s.write(to: out)
    return out
}

/// Every file under `path` (a file or a folder), by relative name, with its bytes.
func contents(_ path: String) throws -> [String: Data] {
    var isDir: ObjCBool = false
    _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
    guard isDir.boolValue else { return ["": try Data(contentsOf: URL(fileURLWithPath: path))] }
    var out: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: path) {
        out[name] = try Data(contentsOf: URL(fileURLWithPath: path + "/" + name))
    }
    return out
}

/// Runs the built `moe-synth` binary (beside the test bundle).
enum SynthCLI {
    static let tool = ToolBinary("moe-synth")
    static var binary: String { tool.path }

    /// Starts the binary; `whileRunning` is called with the process before waiting for it.
    static func run(_ args: [String], whileRunning: (Process) -> Void = { _ in }) throws -> ToolBinary.Result {
        try tool.run(args, whileRunning: whileRunning)
    }
}
