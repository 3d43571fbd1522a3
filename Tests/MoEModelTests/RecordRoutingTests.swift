import Foundation
@testable import MoEModel
import MoEFormats
import MoEStore
import Testing
import TestSupport

/// Recording routing token by token (decode order) on the real tiny Qwen3-MoE reproduces transformers'
/// routing: golden.json's prompts, and the reference trace.bin of ../shared.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct RecordRoutingTests {
    /// golden.json's prompts: ids and, per layer, each prompt token's experts and mixing weights.
    struct Golden: Decodable {
        struct Routing: Decodable { let experts: [[Int]]; let probs: [[Float]] }
        struct Prompt: Decodable { let ids: [Int]; let routing: [Routing] }
        let prompts: [Prompt]
    }

    static let tiny = SharedData.tiny ?? ""
    static let model = Result { try Model(path: tiny) }

    /// valid-ids.bin cut into documents at `<|endoftext|>` = 0, without it.
    static func validDocuments() throws -> [[Int]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: tiny + "/valid-ids.bin"))
        let ids = stride(from: 0, to: data.count - 1, by: 2).map { Int(data[$0]) | Int(data[$0 + 1]) << 8 }
        return ids.split(separator: 0, omittingEmptySubsequences: true).map(Array.init)
    }

    @Test("golden prompts fed one token at a time: experts equal, weights within 1e-4")
    func goldenPrompts() throws {
        let m = try Self.model.get()
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Self.tiny + "/golden.json")))
        let trace = try m.recordRouting(documents: golden.prompts.map(\.ids), threads: 2, precision: .f32)
        #expect(trace.tokens == golden.prompts.reduce(0) { $0 + $1.ids.count })
        #expect(trace.layers == 8 && trace.k == 4 && trace.experts == 32)
        #expect(trace.model == TraceModelIdentity(name: "tiny-qwen3moe", architecture: "qwen3moe", file: "tiny-qwen3moe",
                                                  fileBytes: 19_619_960 + 18_577_896 + 7_129_792, layers: 8, experts: 32, k: 4))
        var orderDiffers = 0
        for (p, prompt) in golden.prompts.enumerated() {
            let start = trace.documentStarts[p]   // the KV cache is emptied here: each prompt starts afresh
            for (l, ref) in prompt.routing.enumerated() {
                for t in 0 ..< prompt.ids.count {
                    let ours = trace.experts(token: start + t, layer: l).map(Int.init)
                    let weights = Array(trace.weights(token: start + t, layer: l)!)
                    #expect(Set(ours) == Set(ref.experts[t]), "prompt \(p) layer \(l) token \(t): \(ours) vs \(ref.experts[t])")
                    if ours != ref.experts[t] { orderDiffers += 1 }
                    for (e, w) in zip(ref.experts[t], ref.probs[t]) {
                        if let j = ours.firstIndex(of: e) { #expect(abs(weights[j] - w) <= 1e-4, "prompt \(p) layer \(l) token \(t) expert \(e)") }
                    }
                }
            }
        }
        print("golden routing: \(orderDiffers) (token, layer) entries list the same experts in another order")
    }

    @Test("documents(text:) of valid.txt are valid-ids.bin's documents")
    func documentsOfText() throws {
        let m = try Self.model.get()
        let text = try String(contentsOfFile: SharedData.root! + "/data/valid.txt", encoding: .utf8)
        #expect(m.documents(text: text) == (try Self.validDocuments()))
        #expect(m.documents(text: "<|endoftext|>a<|endoftext|><|endoftext|>b") == [m.tokenizer.encode("a"), m.tokenizer.encode("b")])
    }

    @Test("an offloaded model records the same trace")
    func offloaded() throws {
        let docs = [Array(try Self.validDocuments()[2].prefix(24)), [970, 11, 1879]]
        let plain = try Model(path: Self.tiny + "/tiny-qwen3moe-Q8_0.gguf")
        let off = try Model(path: Self.tiny + "/tiny-qwen3moe-Q8_0.gguf", offload: OffloadSettings(maxExperts: 6))
        let a = try plain.recordRouting(documents: docs, threads: 2, precision: .q8)
        let b = try off.recordRouting(documents: docs, threads: 2, precision: .q8)
        #expect(a == b)
        #expect(a.documentStarts == [0, 24] && a.model?.architecture == "qwen3moe" && a.model?.fileBytes == 24_366_528)
        // maxTokens and a context shorter than a document (continued in a fresh window) are honoured.
        let cut = try plain.recordRouting(documents: docs, maxTokens: 24, contextLength: 8, threads: 2, precision: .q8)
        #expect(cut.tokens == 24 && cut.documentStarts == [0])
        #expect(throws: InferenceError.self) { try plain.recordRouting(documents: [[], []], threads: 1) }
    }

    /// The reference trace.bin (transformers, float32, 60,019 tokens of held-out documents in its own
    /// document order): its first document is the one valid-ids document of the same length.
    @Test("the first 300 tokens of trace.bin are reproduced")
    func referenceTrace() throws {
        let m = try Self.model.get()
        let reference = try RoutingTrace(contentsOf: Self.tiny)
        let length = reference.documentStarts.count > 1 ? reference.documentStarts[1] : reference.tokens
        let candidates = try Self.validDocuments().filter { $0.count == length }
        try #require(candidates.count == 1, "\(candidates.count) valid-ids documents of \(length) tokens")
        let n = 300
        let ours = try m.recordRouting(documents: candidates, maxTokens: n, threads: 2, precision: .f32)
        var sameOrder = 0, sameSet = 0, sameExperts = 0
        var firstDifferences: [String] = []
        for t in 0 ..< n {
            for l in 0 ..< reference.layers {
                let a = Array(ours.experts(token: t, layer: l)), b = Array(reference.experts(token: t, layer: l))
                if a == b { sameOrder += 1 }
                if Set(a) == Set(b) { sameSet += 1 } else if firstDifferences.count < 5 {
                    firstDifferences.append("token \(t) layer \(l): \(a) \(ours.weights(token: t, layer: l)!) vs \(b)")
                }
                sameExperts += Set(a).intersection(b).count
            }
        }
        let pairs = n * reference.layers
        print("trace.bin agreement over \(n) tokens: \(sameSet)/\(pairs) (token, layer) expert sets, \(sameOrder)/\(pairs) in the same order, \(sameExperts)/\(pairs * reference.k) experts")
        for d in firstDifferences { print("  differs: \(d)") }
        #expect(sameSet == pairs)
    }

    /// The whole of trace.bin (60,019 tokens, about two minutes on two cores): opt-in with MOE_FULL_TRACE=1.
    /// Its documents are valid-ids documents in another order, cut at 1024 tokens; each is found by its
    /// length and its first tokens' routing, then all are recorded in the trace's order and compared.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MOE_FULL_TRACE"] != nil, "set MOE_FULL_TRACE=1"))
    func wholeReferenceTrace() throws {
        let m = try Self.model.get()
        let reference = try RoutingTrace(contentsOf: Self.tiny)
        let valid = try Self.validDocuments()
        let starts = reference.documentStarts, lengths = zip(starts, starts.dropFirst() + [reference.tokens]).map { $1 - $0 }
        /// Does `doc`'s routing over its first `n` tokens equal the trace's from `start`?
        func agrees(_ got: RoutingTrace, from: Int, start: Int, n: Int) -> Bool {
            (0 ..< n).allSatisfy { t in (0 ..< got.layers).allSatisfy { l in
                Set(got.experts(token: from + t, layer: l)) == Set(reference.experts(token: start + t, layer: l)) } }
        }
        var used = Set<Int>(), order: [Int] = []
        for (d, length) in lengths.enumerated() {
            let candidates = valid.indices.filter { !used.contains($0) && (valid[$0].count == length || (length == 1024 && valid[$0].count > 1024)) }
            let probe = min(length, 24)
            let got = try m.recordRouting(documents: candidates.map { Array(valid[$0].prefix(probe)) }, threads: 2, precision: .f32)
            let matches = candidates.indices.filter { agrees(got, from: $0 * probe, start: starts[d], n: probe) }
            try #require(!matches.isEmpty, "trace document \(d) (\(length) tokens) matches no valid-ids document")
            used.insert(candidates[matches[0]])
            order.append(candidates[matches[0]])
        }
        let ours = try m.recordRouting(documents: zip(order, lengths).map { Array(valid[$0].prefix($1)) }, threads: 2, precision: .f32)
        #expect(ours.documentStarts == starts)
        var sameSet = 0, sameExperts = 0
        for t in 0 ..< reference.tokens {
            for l in 0 ..< reference.layers {
                let a = Set(ours.experts(token: t, layer: l)), b = Set(reference.experts(token: t, layer: l))
                if a == b { sameSet += 1 }
                sameExperts += a.intersection(b).count
            }
        }
        let pairs = reference.tokens * reference.layers
        print("whole trace.bin: \(sameSet)/\(pairs) (token, layer) expert sets equal, \(sameExperts)/\(pairs * reference.k) experts")
        #expect(sameSet == pairs)
    }
}
