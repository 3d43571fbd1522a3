import ArgumentParser
import Foundation
import MoEModel

/// A text split into documents at `<|endoftext|>`, each tokenized on its own (as `moe perplexity` does).
func documents(of file: String, model: Model, maxTokens: Int?) throws -> [[Int]] {
    guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read text file \(file)") }
    var docs: [[Int]] = [], count = 0
    for text in String(decoding: data, as: UTF8.self).components(separatedBy: "<|endoftext|>") {
        var ids = model.tokenizer.encodePrompt(text)
        if let n = maxTokens { ids = Array(ids.prefix(n - count)) }
        guard !ids.isEmpty else { continue }
        docs.append(ids)
        count += ids.count
        if let n = maxTokens, count >= n { break }
    }
    guard count > 0 else { throw ValidationError("\(file) holds no tokens") }
    return docs
}

/// Feeds `documents` one token at a time (decode order), the KV cache emptied at each document's start and
/// when it is full. Returns seconds spent.
func feed(_ documents: [[Int]], model: Model, state: InferenceState, progress: (Int) -> Void = { _ in }) throws -> Double {
    let clock = ContinuousClock(), t0 = clock.now
    var done = 0
    for doc in documents {
        state.reset()
        for id in doc {
            if state.position == state.contextLength { state.reset() }
            _ = try model.forward([id], state: state, logits: .last)
            done += 1
            if done % 64 == 0 { progress(done) }
        }
    }
    let d = clock.now - t0
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
