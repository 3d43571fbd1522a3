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

