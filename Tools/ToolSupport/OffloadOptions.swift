import ArgumentParser
import MoEFormats
import MoEModel
import MoEStore

extension CachePolicyKind: ExpressibleByArgument {}
extension CompressionChoice: ExpressibleByArgument {}
extension ExpertCacheOptions.ReadMethod: ExpressibleByArgument {}

/// `--miss-precision`: how an expert the cache does not hold is computed in decode.
public enum MissPrecision: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// From the model's own copy (read at full size): output as without a budget.
    case exact
    /// From the companion's lower-precision copy when its weight ranks below the token's top half.
    case low
}

/// `--memory-budget` and the expert cache's options, shared by the commands that run a model.
public struct OffloadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Memory the whole process may use (as 1.5GiB, 800MiB): resident weights, KV cache, buffers and the expert cache. Experts then stay on disk and are read as needed.",
                               valueName: "size"))
    public var memoryBudget: String?

    @Option(help: "Hold at most N experts in memory (for studies of cache behaviour; with or without --memory-budget).")
    public var cacheExperts: Int?

    @Option(help: ArgumentHelp("Which experts stay: lru, lfu (decayed counts), or predictive (evicts what the transition forecast and decayed counts say is needed least; loads each next layer's predicted experts ahead, as many as the measured disk rate can read while the layers before compute).",
                               valueName: "lru|lfu|predictive"))
    public var cachePolicy: CachePolicyKind = .predictive

    @Option(help: "Threads reading experts from disk, each one read at a time. Default: 16 threads, of which as many read at once as this model needs (reads in flight = reads per layer × a read's time ÷ a layer's compute time, at least 4).")
    public var ioThreads: Int?

    @Option(help: ArgumentHelp("How experts are read: auto (io_uring where the kernel allows it: up to three reads per expert of a layer in flight, at least 32, submitted by the computing thread; a prompt's repacked experts on four threads; else threads), uring, or threads.",
                               valueName: "auto|uring|threads"))
    public var reads: ExpertCacheOptions.ReadMethod = .auto

    @Option(help: "Predictive policy: experts loaded ahead for the next layer (default: top-k and half again; top-k for layers further ahead).")
    public var prefetch: Int?

    @Option(help: "Predictive policy: how many MoE layers ahead experts are loaded.")
    public var lookahead = 2

    @Option(help: ArgumentHelp("The compressed-RAM tier (zstd copies of experts, decompressed instead of read from disk): auto uses it when this model's experts compress below 0.9 of their size (16-bit weights do; quantized codes barely).",
                               valueName: "auto|on|off"))
    public var compression: CompressionChoice = .auto

    @Option(help: ArgumentHelp("How a chosen expert that is not in memory is computed in decode: exact (the model's copy, read whole) or low (if its mixing weight ranks below the token's top half, from --companion's smaller copy; prompts stay exact; output changes, see Docs/BENCHMARKS.md for the perplexity cost).",
                               valueName: "exact|low"))
    public var missPrecision: MissPrecision = .exact

    @Option(help: ArgumentHelp("With --miss-precision low: the same model with its experts in a smaller type (moe-quantize SRC model.gguf --companion q2_k=companion.gguf from the checkpoint, or moe-quantize model.gguf companion.gguf --companion-only q2_k from the model file); checked against the model's shapes.",
                               valueName: "file"))
    public var companion: String?

    @Option(help: "With --miss-precision low: how many of a token's experts, by mixing weight, always use the full copy (default: half of top-k).")
    public var fullPrecisionTop: Int?

    @Option(help: ArgumentHelp("With --miss-precision low: the share of the experts' memory that holds companion copies (default 0.25; the rest holds full copies).",
                               valueName: "fraction"))
    public var lowBitShare: Double?

    @Flag(help: "Print the expert cache's statistics (per layer: hits, prefetch hits, misses, bytes read, stalls) on stderr.")
    public var cacheStats = false

    @Option(help: ArgumentHelp("Benchmark mode: route every MoE layer by this recorded trace (a SwiftMoE trace file, binary or .json; or a trace.bin with its trace.json, or their folder) instead of the model's routers. The text produced is meaningless; the cache's work is real.",
                               valueName: "path"))
    public var routingTrace: String?

    public init() {}

    public func validate() throws {
        if let b = memoryBudget {
            do { _ = try ByteSize.parse(b) } catch { throw ValidationError("--memory-budget: \(error)") }
        }
        if let n = cacheExperts, n < 1 { throw ValidationError("--cache-experts must be ≥ 1") }
        if let n = ioThreads, !(1 ... 64).contains(n) { throw ValidationError("--io-threads must be between 1 and 64") }
        if let p = prefetch, p < 0 { throw ValidationError("--prefetch must be ≥ 0") }
        guard lookahead >= 1, lookahead <= 64 else { throw ValidationError("--lookahead must be between 1 and 64") }
        if missPrecision == .low, companion == nil { throw ValidationError("--miss-precision low needs --companion FILE (the model's experts in a smaller type)") }
        if missPrecision == .exact, companion != nil || fullPrecisionTop != nil || lowBitShare != nil {
            throw ValidationError("--companion, --full-precision-top and --low-bit-share take effect with --miss-precision low")
        }
        if let f = lowBitShare, !(f > 0 && f < 1) { throw ValidationError("--low-bit-share must be between 0 and 1 (exclusive)") }
        if let m = fullPrecisionTop, m < 0 { throw ValidationError("--full-precision-top must be ≥ 0") }
        if !enabled, missPrecision == .low { throw ValidationError("--miss-precision low needs --memory-budget or --cache-experts") }
        if !enabled, cachePolicy != .predictive || prefetch != nil || cacheStats {
            throw ValidationError("--cache-policy, --prefetch and --cache-stats need --memory-budget or --cache-experts")
        }
    }

    /// Whether experts are offloaded.
    public var enabled: Bool { memoryBudget != nil || cacheExperts != nil }

    /// The settings, or nil without a budget or expert cap (experts then read through the memory map).
    public func settings() throws -> OffloadSettings? {
        guard enabled else { return nil }
        let budget = try memoryBudget.map { text in
            do { return try ByteSize.parse(text) } catch { throw ValidationError("--memory-budget: \(error)") }
        }
        return OffloadSettings(budgetBytes: budget, maxExperts: cacheExperts,
                               cache: ExpertCacheOptions(policy: cachePolicy, ioThreads: ioThreads, prefetchCount: prefetch, lookahead: lookahead, reads: reads),
                               compression: compression,
                               lowBit: missPrecision == .low ? companion.map {
                                   LowBitMisses(companion: $0, fullRank: fullPrecisionTop, shareOfBudget: lowBitShare ?? LowBitMisses.defaultShare)
                               } : nil)
    }

    /// The forced routing for `model`, if asked for (checked against the model's shape).
    public func forcedRouting(for model: Model) throws -> ForcedRouting? {
        guard let path = routingTrace else { return nil }
        return try ForcedRouting(trace: RoutingTrace(contentsOf: path), model: model, path: path)
    }

    /// The cache report, if experts are offloaded.
    public func report(_ model: Model) -> CacheReport? { model.offload.map(CacheReport.init(offload:)) }
}
