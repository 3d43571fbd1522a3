import Foundation
@testable import MoEModel
import MoEFormats
import MoEKernels
import MoEQuantize
import MoEStore
import Testing
import TestSupport

/// `--miss-precision low`: a companion file's smaller copies serve decode misses of low-weight experts. With
/// every rank kept full the output is exact mode's, bit for bit; with low copies in use it changes, by a
/// little, reads fewer bytes, and is the same whatever the threads. Companions that do not match are refused.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"), .serialized)
struct LowBitMissTests {
    /// The tiny reference model's experts in Q4_0 (the rest as the model's Q8_0), made once per run.
    static let companion = Result<String, Error> {
        let dir = try TempDir("low-bit")
        let path = dir.file("companion-q4_0.gguf")
        var rules = TypeRules.uniform(.q8_0)
        rules.expertsForced = .q4_0
        try QuantizeJob(input: SharedData.tiny!, options: QuantizeOptions(rules: rules, threads: 2)).write(to: path)
        return path
    }

    static func lowBit(_ fullRank: Int?, experts: Int = 8, policy: CachePolicyKind = .predictive) throws -> OffloadSettings {
        OffloadSettings(maxExperts: experts, cache: ExpertCacheOptions(policy: policy),
                        lowBit: LowBitMisses(companion: try companion.get(), fullRank: fullRank))
    }

    @Test func everyRankFullIsExactMode() throws {
        let m = try Model(path: OffloadTests.model, offload: Self.lowBit(64))   // ≥ top-k: every rank full
        #expect(try OffloadTests.run(m) == (try OffloadTests.reference.get()))
        #expect(m.offload?.lowBitCache?.stats.total.requests == 0)
    }

    @Test func lowCopiesServeMissesAndReadLess() throws {
        let m = try Model(path: OffloadTests.model, offload: Self.lowBit(nil))
        let got = try OffloadTests.run(m)
        let reference = try OffloadTests.reference.get()
        // The prefill is exact (several tokens per pass); decode steps use low copies and differ, but little.
        #expect(got[0] == reference[0])
        #expect(got != reference)
        let low = try #require(m.offload?.lowBitCache)
        let report = try #require(CacheReport(offload: m.offload!).lowBit)
        #expect(report.uses > 0 && report.uses == low.stats.total.requests)
        #expect(report.bytesRead > 0 && report.bytesRead < report.fullBytesOfTheSameMisses)
        for (a, b) in zip(got, reference).dropFirst() {
            let scale = b.map(abs).max()!
            let diff = zip(a, b).map { abs($0 - $1) }.max()!
            #expect(diff < 0.25 * scale, "low-bit logits far from exact: \(diff) of \(scale)")
        }
    }

    /// Which experts go low depends on what the cache holds. Without prefetches and with each layer's experts
    /// in one group (LFU, 64 slots), that follows from the requests alone, so the output does not depend on
    /// threads or timing. (With the predictive policy, guesses loaded in time or not change what is held.)
    @Test func sameOutputWhateverTheThreadsWithoutGuesses() throws {
        func run(threads: Int) throws -> [[Float]] {
            let m = try Model(path: OffloadTests.model, offload: Self.lowBit(nil, experts: 64, policy: .lfu))
            let s = InferenceState(config: m.config, contextLength: 64, maxBatch: 16, threads: threads, precision: .q8)
            var out: [[Float]] = [Array(try m.forward(OffloadTests.prompt, state: s))]
            for _ in 0 ..< 12 {
                let last = out.last!
                out.append(Array(try m.forward([last.indices.max { last[$0] < last[$1] }!], state: s)))
            }
            #expect((m.offload?.lowBitCache?.stats.total.requests ?? 0) > 0)
            return out
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one == two, "low-bit logits depend on the threads")
        #expect(one != (try OffloadTests.reference.get()), "no low-bit copy changed the output")
    }

    /// A companion made from the quantized model file itself (`moe-quantize MODEL OUT --companion-only q4_0`): accepted,
    /// and its copies serve the low-rank misses as the checkpoint-made one does.
    @Test func aCompanionOfTheModelFileServesIt() throws {
        let dir = try TempDir("low-bit-own")
        defer { dir.cleanup() }
        let path = dir.file("companion-only.gguf")
        var rules = TypeRules.uniform(.q8_0)
        rules.expertsForced = .q4_0
        var options = QuantizeOptions(rules: rules, threads: 2)
        options.acceptQuantizedInput = true
        try QuantizeJob(input: OffloadTests.model, options: options).write(to: path)
        let m = try Model(path: OffloadTests.model, offload: OffloadSettings(maxExperts: 8, cache: ExpertCacheOptions(policy: .lfu),
                                                                             lowBit: LowBitMisses(companion: path, fullRank: nil)))
        let got = try OffloadTests.run(m), reference = try OffloadTests.reference.get()
        #expect(got[0] == reference[0])
        #expect((m.offload?.lowBitCache?.stats.total.requests ?? 0) > 0)
        for (a, b) in zip(got, reference).dropFirst() {
            #expect(zip(a, b).map { abs($0 - $1) }.max()! < 0.25 * b.map(abs).max()!)
        }
    }

    @Test func aCompanionThatDoesNotMatchIsRefused() throws {
        func refusal(_ path: String) -> String? {
            do {
                _ = try Model(path: OffloadTests.model, offload: OffloadSettings(maxExperts: 8, lowBit: LowBitMisses(companion: path)))
                return nil
            } catch { return "\(error)" }
        }
        // The model itself: not smaller.
        #expect(refusal(OffloadTests.model)?.contains("not smaller") == true)
        // Another model's shape.
        let other = try #require(SharedData.root.map { $0 + "/models/tiny-mixtral-spm" })
        let dir = try TempDir("low-bit-other")
        defer { dir.cleanup() }
        let otherFile = dir.file("other.gguf")
        try QuantizeJob(input: other, options: QuantizeOptions(rules: .uniform(.q4_0), threads: 2)).write(to: otherFile)
        #expect(refusal(otherFile)?.contains("not a companion") == true)
        // No file at all.
        #expect(refusal(dir.file("missing.gguf")) != nil)
    }

    /// `moe-quantize --companion` writes the input's fingerprint into both files; a companion whose
    /// fingerprint differs from the model's (other weights of the same shapes) is refused.
    @Test func fingerprintsMustAgree() throws {
        let dir = try TempDir("low-bit-fingerprint")
        defer { dir.cleanup() }
        func write(_ path: String, experts: TensorType?, fingerprint: String) throws {
            var rules = TypeRules.uniform(.q8_0)
            rules.expertsForced = experts
            var o = QuantizeOptions(rules: rules, threads: 2)
            o.extraMetadata = [(CompanionKeys.sourceFingerprint, .string(fingerprint))]
            try QuantizeJob(input: SharedData.tiny!, options: o).write(to: path)
        }
        let job = try QuantizeJob(input: SharedData.tiny!, options: QuantizeOptions(rules: .uniform(.q8_0), threads: 2))
        let fingerprint = try job.sourceFingerprint()
        #expect(fingerprint == (try job.sourceFingerprint()))
        let model = dir.file("model.gguf"), same = dir.file("same.gguf"), other = dir.file("other.gguf")
        try write(model, experts: nil, fingerprint: fingerprint)
        try write(same, experts: .q4_0, fingerprint: fingerprint)
        try write(other, experts: .q4_0, fingerprint: "0")
        _ = try Model(path: model, offload: OffloadSettings(maxExperts: 8, lowBit: LowBitMisses(companion: same)))
        #expect(throws: FormatError.self) {
            _ = try Model(path: model, offload: OffloadSettings(maxExperts: 8, lowBit: LowBitMisses(companion: other)))
        }
    }
}
