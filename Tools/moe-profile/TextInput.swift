import ArgumentParser
import Foundation
import MoEModel

/// A text split into documents at `<|endoftext|>`, each tokenized on its own (`Model.documents`), cut after
/// `maxTokens` tokens in all.
func documents(of file: String, model: Model, maxTokens: Int?) throws -> [[Int]] {
    guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read text file \(file)") }
    var docs: [[Int]] = [], count = 0
    for ids in model.documents(text: String(decoding: data, as: UTF8.self)) {
        let kept = maxTokens.map { Array(ids.prefix($0 - count)) } ?? ids
        guard !kept.isEmpty else { break }
        docs.append(kept)
        count += kept.count
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
