import Foundation
import MoEModel
import Testing

/// Locates the reference data in `../shared` beside the repository (env `MOE_SHARED` overrides).
/// Tests that need it are disabled with a message when it is absent.
enum SharedData {
    static let root: String = {
        if let env = ProcessInfo.processInfo.environment["MOE_SHARED"] { return env }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared").path
    }()
    static var tiny: String { root + "/models/tiny-qwen3moe" }
    static var available: Bool { FileManager.default.fileExists(atPath: tiny + "/golden.json") }
    static let skipMessage: Comment = "reference data ../shared/models/tiny-qwen3moe is absent"
}

/// golden.json: reference outputs from Hugging Face transformers in float32.
struct Golden: Decodable {
    struct Routing: Decodable { let experts: [[Int]]; let probs: [[Float]] }
    struct Prompt: Decodable {
        let text: String
        let ids: [Int]
        let last_logits: [Float]
        let greedy_ids: [Int]
        let greedy_text: String
        /// Absent only from golden-MXFP4.json (tests that need it `#require` it).
        let routing: [Routing]?
    }
    let prompts: [Prompt]

    static let shared: Golden? = {
        guard let data = FileManager.default.contents(atPath: SharedData.tiny + "/golden.json") else { return nil }
        return try? JSONDecoder().decode(Golden.self, from: data)
    }()
}

extension Model {
    /// `count` greedy tokens after `prompt` on the float32 reference path (the goldens were made so).
    func greedyIds(after prompt: [Int], count: Int) throws -> [Int] {
        let state = InferenceState(config: config, contextLength: 128)
        var logits = Array(try forward(prompt, state: state, logits: .last))
        var produced: [Int] = []
        for _ in 0 ..< count {
            let next = logits.indices.max { logits[$0] < logits[$1] }!
            produced.append(next)
            logits = Array(try forward([next], state: state, logits: .last))
        }
        return produced
    }
}
