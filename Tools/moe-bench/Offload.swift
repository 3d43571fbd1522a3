import ArgumentParser
import Foundation
import MemLimit
import MoEFormats
import MoEStore
import ToolSupport

/// `compare`'s offload benchmark options: a memory cgroup around every engine run, and SwiftMoE's expert
/// cache. The cache options are handed to each `moe-bench engine` child, which parses them with
/// ToolSupport's OffloadOptions (as `moe generate` does); `validate` parses them that way up front.
struct CompareOffloadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run every engine (swiftmoe and llama.cpp) in its own memory cgroup of this size (as 1.5GiB), the model file dropped from the page cache first. Reports the cgroup's peak, limit hits and OOM kills; a killed run shows as \"killed\".",
                               valueName: "size"))
    var memoryLimit: String?

    @Option(help: ArgumentHelp("SwiftMoE's memory budget (whole process; experts then stay on disk behind the cache). Default: the --memory-limit value; none without a limit.",
                               valueName: "size"))
    var memoryBudget: String?

    @Option(help: ArgumentHelp("SwiftMoE cache policies, one engine each, named 'swiftmoe POLICY' (default when offloading: predictive).",
                               valueName: "lru,lfu,predictive"))
    var cachePolicies: String?

    @Option(help: ArgumentHelp("SwiftMoE: hold at most N experts in memory (offloads even without a budget).", valueName: "n"))
    var cacheExperts: Int?
    @Option(help: ArgumentHelp("SwiftMoE: threads reading experts from disk (default: the engine's, adapted).", valueName: "n"))
    var ioThreads: Int?
    @Option(help: ArgumentHelp("SwiftMoE: how experts are read, one engine each per policy, named 'swiftmoe POLICY READS' (default: the engine's auto).",
                               valueName: "uring,threads"))
    var reads: String?
    @Option(help: ArgumentHelp("SwiftMoE: also run each policy with --miss-precision low and this companion file, named 'swiftmoe POLICY low'.",
                               valueName: "file"))
    var companion: String?
    @Option(help: ArgumentHelp("SwiftMoE low-bit engines: the token's experts by weight that always use the full copy (default: half of top-k).",
                               valueName: "n"))
    var fullPrecisionTop: Int?
    @Option(help: ArgumentHelp("SwiftMoE low-bit engines: the share of the experts' memory that holds companion copies (default: the engine's).",
                               valueName: "fraction"))
    var lowBitShare: Double?
    @Option(help: ArgumentHelp("SwiftMoE, predictive policy: experts loaded ahead per layer.", valueName: "n"))
    var prefetch: Int?
    @Option(help: ArgumentHelp("SwiftMoE only: route every MoE layer by this recorded trace (a SwiftMoE trace file, binary or .json; or a trace.bin with its trace.json, or their folder); llama.cpp routes by its own router.",
                               valueName: "path"))
    var routingTrace: String?
    @Option(help: ArgumentHelp("MiB read by each disk test (before the first and after the last repetition, when offloading; 0: none).",
                               valueName: "mib"))
    var diskMib = 512

    /// The limit in bytes, nil without one.
    var limitBytes: Int? { get throws { try memoryLimit.map { try Self.size($0, "--memory-limit") } } }

    /// SwiftMoE's budget, bytes: --memory-budget, else the limit.
    var budgetBytes: Int? { get throws { try memoryBudget.map { try Self.size($0, "--memory-budget") } ?? limitBytes } }

    /// Whether SwiftMoE offloads experts (a budget, given or from the limit, or an expert cap).
    var offloading: Bool { memoryLimit != nil || memoryBudget != nil || cacheExperts != nil }

    /// The disk test runs under a limit or when offloading, unless --disk-mib 0.
    var measuresDisk: Bool { offloading && diskMib > 0 }

    /// One SwiftMoE engine per policy; `[nil]` (one engine, no cache options) when not offloading.
    var policies: [CachePolicyKind?] {
        get throws {
            guard offloading else { return [nil] }
            guard let list = cachePolicies else { return [.predictive] }
            var out: [CachePolicyKind] = []
            for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let p = CachePolicyKind(rawValue: name.lowercased()) else {
                    throw ValidationError("--cache-policies: unknown policy '\(name)' (use lru, lfu, predictive, comma-separated)")
                }
                if !out.contains(p) { out.append(p) }
            }
            guard !out.isEmpty else { throw ValidationError("--cache-policies: no policy named") }
            return out
        }
    }

    /// The read methods asked for (empty: the engine's default).
    var readMethods: [ExpertCacheOptions.ReadMethod] {
        get throws {
            try (reads ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { name in
                guard let m = ExpertCacheOptions.ReadMethod(rawValue: name) else {
                    throw ValidationError("--reads: unknown method '\(name)' (auto, uring, threads, comma-separated)")
                }
                return m
            }
        }
    }

    /// Every SwiftMoE engine: (name, `moe-bench engine` options). Per policy, per read method, exact and (with
    /// --companion) low-bit; one engine named "swiftmoe" when not offloading.
    var variants: [(name: String, arguments: [String])] {
        get throws {
            var out: [(String, [String])] = []
            for policy in try policies {
                let base = policy.map { "swiftmoe \($0.rawValue)" } ?? "swiftmoe"
                let args = try engineArguments(policy: policy)
                let methods = try readMethods
                for method in methods.isEmpty ? [nil] : methods.map(Optional.some) {
                    let name = base + (method.map { " \($0.rawValue)" } ?? "")
                    let withReads = args + (method.map { ["--reads", $0.rawValue] } ?? [])
                    out.append((name, withReads))
                    if let c = companion, policy != nil {
                        out.append((name + " low", withReads + ["--miss-precision", "low", "--companion", c]
                                    + (fullPrecisionTop.map { ["--full-precision-top", "\($0)"] } ?? [])
                                    + (lowBitShare.map { ["--low-bit-share", "\($0)"] } ?? [])))
                    }
                }
            }
            return out
        }
    }

    func validate() throws {
        if let b = try limitBytes, b < MemoryLimit.minimumLimitBytes {
            throw ValidationError("--memory-limit: \(ByteSize.format(b)) is below the minimum \(ByteSize.format(MemoryLimit.minimumLimitBytes))")
        }
        _ = try budgetBytes
        if !offloading, cachePolicies != nil || ioThreads != nil || prefetch != nil || reads != nil || companion != nil {
            throw ValidationError("--cache-policies, --io-threads, --reads, --companion and --prefetch need --memory-limit, --memory-budget or --cache-experts")
        }
        if companion == nil, fullPrecisionTop != nil || lowBitShare != nil {
            throw ValidationError("--full-precision-top and --low-bit-share take effect with --companion")
        }
        guard diskMib >= 0 else { throw ValidationError("--disk-mib must be ≥ 0") }
        if let t = routingTrace, !FileManager.default.fileExists(atPath: t) {
            throw ValidationError("--routing-trace: \(t): no such file or folder")
        }
        // The engine's own parser has the last word on the cache options (ranges, combinations).
        for v in try variants {
            do { _ = try OffloadOptions.parse(v.arguments) } catch {
                throw ValidationError(OffloadOptions.message(for: error))
            }
        }
    }

    /// The `moe-bench engine` options for one SwiftMoE engine.
    func engineArguments(policy: CachePolicyKind?) throws -> [String] {
        var args: [String] = []
        if let t = routingTrace { args += ["--routing-trace", t] }
        guard let policy else { return args }
        if let b = try budgetBytes { args += ["--memory-budget", "\(b)"] }
        if let n = cacheExperts { args += ["--cache-experts", "\(n)"] }
        args += ["--cache-policy", policy.rawValue]
        if let n = ioThreads { args += ["--io-threads", "\(n)"] }
        if let n = prefetch { args += ["--prefetch", "\(n)"] }
        return args
    }

    /// The cgroup for each engine run: the limit, and the model's files dropped from the page cache.
    func cap(model: String) throws -> MemoryCap? {
        try limitBytes.map { MemoryCap(limitBytes: $0, dropFromPageCache: Self.files(of: model)) }
    }

    /// A model's files: the file itself, or the regular files of its folder.
    static func files(of model: String) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDir), isDir.boolValue else { return [model] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: model)) ?? []
        return names.sorted().map { "\(model)/\($0)" }.filter {
            (try? FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeRegular
        }
    }

    /// The file the disk test reads: the model file, or its folder's largest file.
    static func diskTestFile(of model: String) -> String? {
        files(of: model).max { size($0) < size($1) }
    }

    private static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.intValue ?? 0
    }

    private static func size(_ text: String, _ option: String) throws -> Int {
        do { return try ByteSize.parse(text) } catch { throw ValidationError("\(option): \(error)") }
    }
}

/// Which llama.cpp engines `compare` runs.
enum LlamaVariants: String, CaseIterable, ExpressibleByArgument {
    /// Its defaults (weights repacked for its kernels: a second copy in anonymous memory).
    case `default`
    /// --repack 0: weights used in place through the memory map.
    case norepack
    case both

    var repackSettings: [Bool] {
        switch self {
        case .default: return [true]
        case .norepack: return [false]
        case .both: return [true, false]
        }
    }
}
