import Foundation
@testable import MoEModel
import MoEFormats
import MoEKernels
import MoEStore
import Testing
import TestSupport

/// Offloaded experts must not change a single logit: whatever the policy, the cache's size or the grouping
/// of a batch's experts, the same bytes reach the same kernels.
@Suite struct OffloadTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Weights/tiny-qwen3moe-Q8_0.gguf").path
    static let prompt = [970, 11, 1879, 0, 576, 3974, 1387, 3883, 3420, 916, 279, 1567, 556, 13]

    /// Logits of a prefill of `prompt` and of `steps` greedy decode steps after it.
    static func run(_ m: Model, steps: Int = 12, precision: ActivationPrecision = .q8, trace: RoutingTrace? = nil) throws -> [[Float]] {
        let s = InferenceState(config: m.config, contextLength: 64, maxBatch: 16, threads: 2, precision: precision)
        if let trace { s.forcedRouting = try ForcedRouting(trace: trace, model: m, path: "trace") }
        var out: [[Float]] = [Array(try m.forward(prompt, state: s))]
        for _ in 0 ..< steps {
            let last = out.last!
            out.append(Array(try m.forward([last.indices.max { last[$0] < last[$1] }!], state: s)))
        }
        return out
    }

    static let reference = Result { try run(Model(path: model)) }

    @Test(arguments: [CachePolicyKind.lru, .lfu, .predictive], [4, 8, 64, 256])
    func sameLogits(policy: CachePolicyKind, experts: Int) throws {
        let m = try Model(path: Self.model, offload: OffloadSettings(maxExperts: experts, cache: ExpertCacheOptions(policy: policy, ioThreads: 3)))
        let got = try Self.run(m)
        #expect(got == (try Self.reference.get()))
        let cache = try #require(m.offload?.existingCache)
        let stats = cache.stats.total
        #expect(stats.requests == stats.hits + stats.prefetchHits + stats.latePrefetches + stats.misses)
        #expect(cache.residentCount <= cache.capacity)
        if experts >= 256 { #expect(stats.evictions == 0) }
        // Demand-only policies load nothing ahead except a prefill's next group of experts (none when a layer fits).
        if policy != .predictive, experts >= 64 { #expect(stats.prefetches == 0) }
        // Decode requests: k per MoE layer per token (the prefill requests each chosen expert once).
        #expect(stats.requests >= 12 * m.config.layerCount * m.config.expertsPerToken)
    }

    @Test func floatPathToo() throws {
        let m = try Model(path: Self.model, offload: OffloadSettings(maxExperts: 6))
        #expect(try Self.run(m, steps: 4, precision: .f32) == (try Self.run(Model(path: Self.model), steps: 4, precision: .f32)))
    }

    @Test func budgetTooSmallIsRefusedWithTheMinimum() throws {
        do {
            _ = try Model(path: Self.model, offload: OffloadSettings(budgetBytes: 1 << 20))
            Issue.record("a 1 MiB budget was accepted")
        } catch let e as OffloadError {
            guard case let .budgetTooSmall(budget, minimum, _) = e else { Issue.record("\(e)"); return }
            #expect(budget == 1 << 20 && minimum > budget)
            #expect(e.description.contains("at least"))
        }
    }

    @Test func budgetSizesTheCache() throws {
        // The budget leaves 256 MiB above this process's resident bytes now: the suites running beside this one
        // allocate meanwhile (model copies, repacked rows). With 64 MiB the test failed once in a full run and
        // passed alone and in the next run: the process can grow past such a budget before the cache is planned.
        let rss = ProcessMemory.residentBytes(), budget = rss + (256 << 20)
        let m = try Model(path: Self.model, offload: OffloadSettings(budgetBytes: budget))
        _ = try Self.run(m, steps: 2)
        let plan = try #require(m.offload?.plan)
        #expect(plan.processBytes + plan.marginBytes + plan.readyTierBytes <= budget)
        #expect(plan.slots >= m.config.expertsPerToken)
    }

    @Test func truncatedFileIsAnErrorNotACrash() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let copy = dir.file("model.gguf")
        try FileManager.default.copyItem(atPath: Self.model, toPath: copy)
        let m = try Model(path: copy, offload: OffloadSettings(maxExperts: 4, cache: ExpertCacheOptions(policy: .lru)))
        let size = try FileManager.default.attributesOfItem(atPath: copy)[.size] as! Int
        #expect(truncate(copy, off_t(size / 2)) == 0)
        do {
            _ = try Self.run(m, steps: 8)
            Issue.record("ran on a truncated file")
        } catch let e as OffloadError {
            guard case .fileChanged = e else { Issue.record("\(e)"); return }
            #expect(e.description.contains("changed while running"))
        }
    }

    @Test(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
    func forcedRoutingUsesTheTrace() throws {
        let trace = try RoutingTrace(sharedTrace: SharedData.tiny!)
        let m = try Model(path: Self.model, offload: OffloadSettings(maxExperts: 16))
        let s = InferenceState(config: m.config, contextLength: 64, maxBatch: 16, threads: 1, precision: .q8)
        s.forcedRouting = try ForcedRouting(trace: trace, model: m, path: "trace")
        s.routingLog = RoutingLog(layerCount: m.config.layerCount)
        try m.forward(Array(Self.prompt.prefix(3)), state: s)
        try m.forward([5], state: s)
        for t in 0 ..< 4 {
            for l in 0 ..< m.config.layerCount {
                #expect(s.routingLog!.layers[l][t].experts == trace.experts(token: t, layer: l).map(Int.init))
            }
        }
        // Offloaded or not, forced routing gives the same logits.
        let offloaded = try Self.run(m, steps: 3, trace: trace)
        #expect(offloaded == (try Self.run(Model(path: Self.model), steps: 3, trace: trace)))
    }
}

/// Experts repacked as they enter the cache (`ExpertCacheOptions.repackInPlace`, on for 8-bit activations unless
/// the model is opened with `.none`): the same logits as the mapped model, whichever way the bytes are read.
@Suite(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
struct RepackInCacheTests {
    static let q4_0 = (SharedData.tiny ?? "") + "/tiny-qwen3moe-Q4_0.gguf"

    /// Logits of prompts long enough that their experts are repacked as they load (≥ 2 tokens per expert on
    /// average), each followed by decode steps, whose loads stay row-major: hits on both kinds of slot.
    static func run(_ m: Model, precision: ActivationPrecision = .q8) throws -> [[Float]] {
        let s = InferenceState(config: m.config, contextLength: 256, maxBatch: 128, threads: 2, precision: precision)
        let long = (0 ..< 40).map { OffloadTests.prompt[$0 % OffloadTests.prompt.count] + $0 }
        var out: [[Float]] = []
        for round in 0 ..< 2 {
            out.append(Array(try m.forward(long.map { ($0 + round) % m.config.vocabSize }, state: s)))
            for _ in 0 ..< 4 {
                let last = out.last!
                out.append(Array(try m.forward([last.indices.max { last[$0] < last[$1] }!], state: s)))
            }
        }
        return out
    }

    /// (`.auto` is io_uring where the kernel allows it, with threads beside the ring for the repacked reads; the
    /// predictive policy adds the ring's guesses, which a prompt's batch may then ask for.)
    @Test(arguments: [(ExpertCacheOptions.ReadMethod.threads, 8, CachePolicyKind.lfu), (.threads, 40, .lfu), (.auto, 8, .lfu), (.auto, 40, .lfu),
                      (.auto, 8, .predictive), (.auto, 40, .predictive)])
    func sameLogitsAsMapped(reads: ExpertCacheOptions.ReadMethod, experts: Int, policy: CachePolicyKind) throws {
        let mapped = try Self.run(Model(path: Self.q4_0))
        let rowMajor = try Self.run(Model(path: Self.q4_0, repack: .none))
        #expect(mapped == rowMajor)   // (the x8/x16 layouts reproduce the row-major products)
        let m = try Model(path: Self.q4_0, offload: OffloadSettings(maxExperts: experts, cache: ExpertCacheOptions(policy: policy, ioThreads: 2, reads: reads)))
        #expect(try Self.run(m) == mapped)
        let cache = try #require(m.offload?.existingCache)
        #expect(cache.options.repackInPlace)
        #expect(cache.stats.total.misses > experts)   // experts were evicted and read again
        // A float-activation call on a cache of repacked experts is refused, not computed on reordered bytes.
        #expect(throws: InferenceError.self) { try OffloadTests.run(m, steps: 1, precision: .f32) }
    }

    @Test func floatActivationsFirstKeepRowMajorExperts() throws {
        let m = try Model(path: Self.q4_0, offload: OffloadSettings(maxExperts: 8))
        let f32 = try OffloadTests.run(m, steps: 3, precision: .f32)
        #expect(f32 == (try OffloadTests.run(Model(path: Self.q4_0), steps: 3, precision: .f32)))
        #expect(try #require(m.offload?.existingCache).options.repackInPlace == false)
    }
}

/// Forced routing in a batch of several sequences (moe serve --routing-trace): each row follows its own
/// sequence's place in the trace, so the batch routes as each sequence would alone.
struct ForcedRoutingBatchTests {
    @Test(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
    func eachSequenceFollowsItsOwnDocument() throws {
        let trace = try RoutingTrace(sharedTrace: SharedData.tiny!)
        try #require(trace.documentStarts.count > 3, "the trace has too few documents")
        let m = try Model(path: OffloadTests.model)
        let c = m.config
        let forced = try ForcedRouting(trace: trace, model: m, path: "trace")
        func sequence(document: Int) -> InferenceState {
            let s = InferenceState(config: c, contextLength: 32, maxBatch: 4, logitRows: 4, threads: 1, precision: .q8)
            s.forcedRouting = forced.startingAtDocument(document)
            return s
        }
        #expect(forced.startingAtDocument(2).next == trace.documentStarts[2])
        #expect(forced.startingAtDocument(trace.documentStarts.count + 1).next == trace.documentStarts[1])
        let batched = [sequence(document: 1), sequence(document: 3)]
        let alone = [sequence(document: 1), sequence(document: 3)]
        let scratch = InferenceState(config: c, contextLength: 32, maxBatch: 8, logitRows: 8, threads: 1, precision: .q8)
        scratch.routingLog = RoutingLog(layerCount: c.layerCount)
        // One batch: two rows of sequence 0, three of sequence 1; then one row each.
        let steps: [[(Int, Int)]] = [[(0, 5), (0, 6), (1, 7), (1, 8), (1, 9)], [(0, 10), (1, 11)]]
        var row = 0
        for step in steps {
            let logits = Array(try m.forward(batch: step.map { (token: $0.1, sequence: batched[$0.0]) }, scratch: scratch))
            var offsets = [0, 0]
            for (r, (seq, token)) in step.enumerated() {
                let traceToken = batched[seq].forcedRouting!.next - step.filter { $0.0 == seq }.count + offsets[seq]
                offsets[seq] += 1
                for l in 0 ..< c.layerCount {
                    #expect(scratch.routingLog!.layers[l][row].experts == trace.experts(token: traceToken, layer: l).map(Int.init))
                }
                row += 1
                let own = Array(try m.forward([token], state: alone[seq], logits: .all))
                let diff = zip(logits[r * c.vocabSize ..< (r + 1) * c.vocabSize], own).map { abs($0 - $1) }.max()!
                #expect(diff <= 1e-4, "row \(r): max difference \(diff)")
            }
        }
        #expect(batched[0].forcedRouting!.next == trace.documentStarts[1] + 3)
        #expect(batched[1].forcedRouting!.next == trace.documentStarts[3] + 4)
    }
}

/// The round-2 architectures behind the expert cache: shared experts and dense layers stay resident, the
/// routed experts come through the cache, and the logits are those of the mapped model, for every policy.
@Suite(.enabled(if: SharedData.root.map { FileManager.default.fileExists(atPath: $0 + "/models/tiny-deepseek-v3") } ?? false,
                "reference data ../shared/models/tiny-* (round 2) is absent"))
struct OffloadNewArchitectureTests {
    static let files = ["tiny-deepseek-v3", "tiny-deepseek-v2", "tiny-glm4-moe", "tiny-ernie45-moe", "tiny-gpt-oss"]
        .map { (SharedData.root ?? "") + "/models/\($0)/\($0)-bf16.gguf" }

    @Test(arguments: files, [CachePolicyKind.lru, .predictive])
    func sameLogits(file: String, policy: CachePolicyKind) throws {
        let reference = try OffloadTests.run(Model(path: file), steps: 6, precision: .f32)
        let m = try Model(path: file, offload: OffloadSettings(maxExperts: 6, cache: ExpertCacheOptions(policy: policy, ioThreads: 2)))
        #expect(try OffloadTests.run(m, steps: 6, precision: .f32) == reference)
        let stats = try #require(m.offload?.existingCache).stats.total
        #expect(stats.misses > 0, "the cache of 6 experts never missed: the experts did not go through it")
    }
}
