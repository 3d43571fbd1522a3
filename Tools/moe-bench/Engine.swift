import ArgumentParser
import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import MoEStore
import ToolSupport

/// What one measurement of an engine on a model reports (one process, one repetition).
struct EngineRun: Codable {
    /// Model load time, nil where the engine does not report it (llama-bench).
    var loadSeconds: Double?
    /// Prompt processing: promptTokens tokens in one batch from an empty context, tokens/s.
    var prefillTokensPerSecond: Double
    /// Generation: genTokens single-token steps from an empty context, tokens/s.
    var decodeTokensPerSecond: Double
    /// Time to first token of a promptTokens-token prompt: the prefill and the first token's choice.
    var timeToFirstTokenSeconds: Double
    /// The child process's peak resident memory, bytes: read with wait4 by the parent; under a memory
    /// limit (no wait4 there) SwiftMoE's own getrusage figure, 0 where unknown (llama.cpp under a limit).
    var peakRSSBytes: Int = 0
    /// With experts offloaded: the expert cache over the decode test alone (statistics reset before it).
    var cache: CacheReport?
    /// Under `compare --memory-limit`: what the run's memory cgroup saw (filled in by the parent).
    var memory: CgroupFigures?

    enum CodingKeys: String, CodingKey {
        case loadSeconds = "load_s", prefillTokensPerSecond = "prefill_tps", decodeTokensPerSecond = "decode_tps"
        case timeToFirstTokenSeconds = "ttft_s", peakRSSBytes = "peak_rss_bytes", cache, memory
    }
}

/// `moe-bench engine`: measures SwiftMoE in this process, the way llama-bench measures llama.cpp, and
/// prints one JSON EngineRun. `moe-bench compare` runs it as a child so that its peak RSS is its own.
///
/// Like llama-bench: random prompt tokens (seeded); one warm-up pass first; prefill = one batch of
/// --prompt-tokens tokens from an empty context; decode = --gen-tokens steps of one token from an empty
/// context, each token the previous step's greedy choice.
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engine",
        abstract: "Measure SwiftMoE alone in this process and print one JSON object (used by compare).")

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder.") var model: String
    @Option(name: [.customShort("p"), .long], help: "Prompt tokens for the prefill test.") var promptTokens = 512
    @Option(name: [.customShort("n"), .long], help: "Tokens for the decode test.") var genTokens = 128
    @Option(name: .shortAndLong, help: "Threads (default: physical cores).") var threads = ThreadPool.physicalCores
    @Option(help: "Seed of the random prompt.") var seed: UInt64 = 1
    @Option(help: "Activations: q8 (integer kernels) or f32.") var activations: ActivationPrecision = .q8
    @Flag(help: "Also keep decode-only repacked copies (moe --repack: a second copy in memory; no layout is decode-only today).") var repack = false
    @Flag(name: .customLong("no-repack"), help: "No repacked copy (moe --no-repack).") var noRepack = false
    @OptionGroup(title: "Memory budget and expert cache") var offload: OffloadOptions

    func run() throws {
        do { try measure() } catch let e as ValidationError { throw e } catch { throw fail(error) }
    }

    func measure() throws {
        let clock = ContinuousClock()
        let t0 = clock.now
        let m = try Model(path: model, repack: noRepack ? .none : repack ? .all : .replacing, offload: offload.settings())
        let load = (clock.now - t0).seconds
        let c = m.config
        var rng = SeededGenerator(seed: seed)
        let prompt = (0 ..< max(1, promptTokens)).map { _ in Int.random(in: 0 ..< c.vocabSize, using: &rng) }
        let state = InferenceState(config: c, contextLength: max(promptTokens, genTokens) + 1,
                                   maxBatch: min(512, max(1, promptTokens)), threads: threads,
                                   precision: activations)
        state.forcedRouting = try offload.forcedRouting(for: m)

        // Warm-up: touches the weights a run uses (page faults of the mapping) and the pool's threads.
        try m.forward(Array(prompt.prefix(min(16, prompt.count))), state: state)
        state.reset()

        let p0 = clock.now
        let logits = try m.forward(prompt, state: state, logits: .last)
        _ = Self.argmax(logits)
        let prefill = (clock.now - p0).seconds

        state.reset()
        // The cache is made at the first forward call; its counters now cover the decode test alone.
        m.offload?.existingCache?.resetStatistics()
        var token = prompt[0]
        let d0 = clock.now
        for _ in 0 ..< genTokens {
            token = Self.argmax(try m.forward([token], state: state, logits: .last))
        }
        let decode = (clock.now - d0).seconds

        let run = EngineRun(loadSeconds: load, prefillTokensPerSecond: Double(prompt.count) / prefill,
                            decodeTokensPerSecond: genTokens > 0 ? Double(genTokens) / decode : 0,
                            timeToFirstTokenSeconds: prefill, peakRSSBytes: ProcessMemory.peakResidentBytes(),
                            cache: offload.report(m))
        if offload.cacheStats, let report = run.cache { log(report.text()) }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        print(String(decoding: try enc.encode(run), as: UTF8.self))
    }

    static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }
}

extension ActivationPrecision: ExpressibleByArgument {}
