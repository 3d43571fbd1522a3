import ArgumentParser
import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import MoEStore
import ToolSupport

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict tokens/s and hit rate at a memory budget, and the smallest budget for a given speed.",
        discussion: """
        From a routing trace and three measurements on this machine, all taken here and now:
        - the budget's split, exactly as the engine makes it (the model is loaded with --memory budget: non-
          expert weights, KV cache of --context positions, margin, and the expert slots left);
        - compute time per token: short runs whose routing is pinned to k experts per layer, so that after a
          warm-up every expert used is in memory;
        - what a miss costs: short runs whose routing cycles through all experts, so that every request
          misses; (time − compute) / bytes read is the engine's time per byte, disk and CPU together (the
          I/O threads share the cores with the forward pass). --disk-bandwidth replaces it with a rate;
          when the budget holds every expert nothing can miss, and the disk alone is measured.
        Each calibration is the median of three.
        The trace is simulated at the budget's cache size with --policy; a token then takes
          max(compute + demand bytes / bandwidth, all bytes read / bandwidth)
        (demand reads stall the token; prefetches overlap compute but share the disk). The same model at
        growing cache sizes gives the smallest budget that reaches --target of full-RAM speed (compute only).
          moe-profile plan -m olmoe-Q4_0.gguf --memory 1.5GiB --trace ../shared/traces/route-16x64-top8

        With --companion, also whether --miss-precision low pays: the trace is simulated again with the budget
        split as the engine splits it (--low-bit-share of the experts' memory for the companion's copies, a
        quarter by default), the lower-ranked misses read from the companion (its own expert size), at the same
        compute per token; at the budget and at budgets from one layer's top-k to every expert, side by side
        with exact mode; and at the budget for shares from 0.1 to 0.9, naming the fastest (skewed routing
        favours full copies, near-uniform routing the low-bit ones). It predicts speed only: the perplexity cost
        is measured with moe perplexity (Docs/BENCHMARKS.md).
          moe-profile plan -m olmoe-Q4_0.gguf --memory 1.5GiB --trace T --companion olmoe-companion-Q2_K.gguf
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder.")
    var model: String
    @Option(help: ArgumentHelp("Memory budget to plan for (as --memory-budget: the whole process).", valueName: "size"))
    var memory: String
    @Option(help: ArgumentHelp("Routing trace of this model's shape (moe-profile record, or a reference trace).", valueName: "path"))
    var trace: String
    @Option(help: ArgumentHelp("Cache policy.", valueName: "lru|lfu|predictive"))
    var policy: CachePolicyKind = .lru
    @Option(help: ArgumentHelp("Disk bandwidth for expert reads: auto (measured) or a rate in MB/s (10^6 bytes).", valueName: "auto|MB/s"))
    var diskBandwidth = "auto"
    @Option(help: "Share of full-RAM speed the smallest budget must reach.")
    var target = 0.9
    @Option(help: "Tokens of the trace to simulate (from its start; a live run over as many tokens starts as cold).")
    var tokens = 4000
    @Option(help: "KV cache positions the budget must hold (as moe-profile run --context).")
    var context = 2048
    @Option(help: "Threads reading experts.")
    var ioThreads = 4
    @Option(name: [.customShort("t"), .long], help: "Threads of the forward pass (default: the physical cores).")
    var threads: Int?
    @Option(help: ArgumentHelp("Also predict --miss-precision low with this companion file (moe-quantize --companion), side by side.", valueName: "file"))
    var companion: String?
    @Option(help: "With --companion: how many of a token's experts, by mixing weight, always use the full copy (default: half of top-k).")
    var fullPrecisionTop: Int?
    @Option(help: ArgumentHelp("With --companion: the share of the experts' memory that holds companion copies (default 0.25, as the engine's).",
                               valueName: "fraction"))
    var lowBitShare: Double?
    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        do { _ = try ByteSize.parse(memory) } catch { throw ValidationError("--memory: \(error)") }
        guard target > 0, target <= 1 else { throw ValidationError("--target must be in (0, 1]") }
        guard tokens >= 1, context >= 1 else { throw ValidationError("--tokens and --context must be ≥ 1") }
        guard (1 ... 64).contains(ioThreads) else { throw ValidationError("--io-threads must be between 1 and 64") }
        if diskBandwidth != "auto", (Double(diskBandwidth) ?? 0) <= 0 { throw ValidationError("--disk-bandwidth: auto or a positive number of MB/s") }
        if companion == nil, fullPrecisionTop != nil { throw ValidationError("--full-precision-top takes effect with --companion") }
        if let m = fullPrecisionTop, m < 0 { throw ValidationError("--full-precision-top must be ≥ 0") }
        if companion == nil, lowBitShare != nil { throw ValidationError("--low-bit-share takes effect with --companion") }
        if let f = lowBitShare, !(f > 0 && f < 1) { throw ValidationError("--low-bit-share must be between 0 and 1 (exclusive)") }
    }

    struct Prediction: Codable {
        var slots: Int
        var budgetBytes: Int
        var hitRate: Double
        var servedWithoutWaiting: Double
        var demandBytesPerToken: Double
        var prefetchBytesPerToken: Double
        var tokensPerSecond: Double
        var shareOfFullSpeed: Double
        enum CodingKeys: String, CodingKey {
            case slots, budgetBytes = "budget_bytes", hitRate = "hit_rate", servedWithoutWaiting = "served_without_waiting"
            case demandBytesPerToken = "demand_bytes_per_token", prefetchBytesPerToken = "prefetch_bytes_per_token"
            case tokensPerSecond = "tokens_per_second", shareOfFullSpeed = "share_of_full_speed"
        }
    }

    /// --miss-precision low at one budget, beside exact mode at the same budget.
    /// Shares of the experts' memory for the low-bit copies tried at the budget.
    static let shares = [0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9]

    struct LowBitPrediction: Codable {
        var budgetBytes: Int
        /// Share of the experts' memory given to the low-bit copies (`--low-bit-share`).
        var share: Double
        var slots: Int
        var lowBitSlots: Int
        /// Share of requests computed from a low-bit copy.
        var lowBitUses: Double
        var servedWithoutWaiting: Double
        var demandBytesPerToken: Double
        var prefetchBytesPerToken: Double
        var tokensPerSecond: Double
        var exactTokensPerSecond: Double
        var speedUp: Double
        enum CodingKeys: String, CodingKey {
            case budgetBytes = "budget_bytes", share, slots, lowBitSlots = "low_bit_slots", lowBitUses = "low_bit_uses"
            case servedWithoutWaiting = "served_without_waiting", demandBytesPerToken = "demand_bytes_per_token"
            case prefetchBytesPerToken = "prefetch_bytes_per_token", tokensPerSecond = "tokens_per_second"
            case exactTokensPerSecond = "exact_tokens_per_second", speedUp = "speed_up"
        }
    }

    struct LowBitPlan: Codable {
        var companion: String
        var fullRank: Int
        var lowBitSlotBytes: Int
        var atBudget: LowBitPrediction
        /// Budgets from one layer's top-k to every expert (exact mode's slots in 8 steps).
        var budgets: [LowBitPrediction]
        /// The largest of `budgets` up to which low-bit is ≥ 1.1× exact at every one, nil if not at the smallest.
        var paysUpTo: Int?
        /// At the budget, each of `Plan.shares` of the experts' memory for the low-bit copies (`--low-bit-share`).
        var shares: [LowBitPrediction]
        /// The fastest of `shares`.
        var bestShare: Double?
        enum CodingKeys: String, CodingKey {
            case companion, fullRank = "full_rank", lowBitSlotBytes = "low_bit_slot_bytes", atBudget = "at_budget", budgets
            case paysUpTo = "pays_up_to_budget_bytes", shares, bestShare = "best_share"
        }
    }

    struct Output: Codable {
        var model: String
        var trace: String
        var policy: CachePolicyKind
        var plan: BudgetPlan
        var computeSecondsPerToken: Double
        var fullSpeedTokensPerSecond: Double
        var diskBytesPerSecond: Double
        var diskMeasured: Bool
        var atBudget: Prediction
        var target: Double
        var smallestBudget: Prediction?
        var lowBit: LowBitPlan?
        enum CodingKeys: String, CodingKey {
            case model, trace, policy, plan, computeSecondsPerToken = "compute_seconds_per_token"
            case fullSpeedTokensPerSecond = "full_speed_tokens_per_second", diskBytesPerSecond = "disk_bytes_per_second"
            case diskMeasured = "disk_measured", atBudget = "at_budget", target, smallestBudget = "smallest_budget", lowBit = "low_bit"
        }
    }

    func run() throws {
        try reportingErrors {
            let budget = try ByteSize.parse(memory)
            let settings = OffloadSettings(budgetBytes: budget, cache: ExpertCacheOptions(policy: .lru, ioThreads: ioThreads), compression: .off)
            let m = try Model(path: model, offload: settings)
            let lowLayout = try companion.map { try Model.companionLayout($0, matching: m.offload!.layout, of: m.store) }
            var trace = try loadTrace(self.trace, config: m.config)
            trace = trace.tokens(in: 0 ..< min(tokens, trace.tokens))
            let state = InferenceState(config: m.config, contextLength: min(context, m.config.maxPositions), maxBatch: 1, logitRows: 1,
                                       threads: threads ?? ThreadPool.physicalCores, precision: .q8)
            let offload = m.offload!
            let cache = try offload.cache()
            let plan = offload.plan!
            if !json { printErr("budget \(ByteSize.format(budget)): \(plan.slots) expert slots of \(ByteSize.format(plan.slotBytes)); measuring compute …") }
            let (compute, perByte) = try Self.calibrate(model: m, state: state, cache: cache)
            let disk: Double
            if diskBandwidth != "auto" {
                disk = Double(diskBandwidth)! * 1e6
            } else if let perByte, perByte > 0 {
                disk = 1 / perByte
            } else {
                if !json { printErr("no miss in the calibration runs (the cache holds every expert): measuring the disk alone (\(ioThreads) threads reading experts) …") }
                disk = try DiskProbe.expertReadBandwidth(layout: offload.layout, threads: ioThreads, seconds: 3)
            }
            let expertBytes = Double(offload.layout.maxExpertBytes)
            let simLayout = CacheSimulator.layout(for: trace, expertBytes: Int(expertBytes))
            func budgetBytes(expertBytes free: Int) -> Int {
                // The whole-process budget that leaves `free` bytes for experts: the engine's split solved for the budget.
                let fixed = Double(plan.processBytes + (24 << 20) + free)
                return Int((fixed / (1 - 1.0 / 256)).rounded(.up))
            }
            // A token's time: demand reads stall it, prefetches overlap compute but share the disk.
            func secondsPerToken(demand: Double, prefetch: Double) -> Double { max(compute + demand / disk, (demand + prefetch) / disk) }
            func predict(slots: Int) throws -> Prediction {
                let s = try CacheSimulator.simulate(trace, layout: simLayout, policy: SimulatedPolicy(rawValue: policy.rawValue)!,
                                                    capacity: min(slots, trace.layers * trace.experts))
                let t = s.statistics.total, n = Double(trace.tokens)
                let demand = Double(t.misses) * expertBytes / n, prefetch = Double(t.prefetches) * expertBytes / n
                let seconds = secondsPerToken(demand: demand, prefetch: prefetch)
                return Prediction(slots: slots, budgetBytes: budgetBytes(expertBytes: slots * plan.slotBytes), hitRate: s.hitRate,
                                  servedWithoutWaiting: s.servedWithoutWaiting, demandBytesPerToken: demand, prefetchBytesPerToken: prefetch,
                                  tokensPerSecond: 1 / seconds, shareOfFullSpeed: compute / seconds)
            }
            var at = try predict(slots: plan.slots)
            at.budgetBytes = budget
            // Smallest cache reaching the target share (bisection; the share grows with the cache).
            let total = trace.layers * trace.experts
            var smallest: Prediction?
            if try predict(slots: total).shareOfFullSpeed >= target {
                var lo = trace.k, hi = total
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if try predict(slots: mid).shareOfFullSpeed >= target { hi = mid } else { lo = mid + 1 }
                }
                smallest = try predict(slots: lo)
            }
            var lowBit: LowBitPlan?
            if let lowLayout, let companion {
                let total = trace.layers * trace.experts
                let lowSlotBytes = ExpertCache.slotBytes(for: lowLayout)
                let lowExpertBytes = Double(lowLayout.maxExpertBytes)
                let rule = LowBitMisses(companion: companion, fullRank: fullPrecisionTop,
                                        shareOfBudget: lowBitShare ?? LowBitMisses.defaultShare)
                let lowSimLayout = CacheSimulator.layout(for: trace, expertBytes: Int(lowExpertBytes))
                // Low-bit mode where exact mode has `free` bytes of expert slots, split as ExpertOffload splits it.
                func predictLowBit(free: Int, budget: Int, exact: Prediction, share: Double? = nil) throws -> LowBitPrediction? {
                    let share = share ?? rule.shareOfBudget
                    let lowSlots = ExpertOffload.lowBitSlots(free: free, share: share, lowSlotBytes: lowSlotBytes, lowLayout: lowLayout)
                    let slots = min(total, (free - lowSlots * lowSlotBytes) / max(plan.slotBytes, 1))
                    guard slots >= trace.k else { return nil }
                    let s = try CacheSimulator.simulate(trace, layout: simLayout, policy: SimulatedPolicy(rawValue: policy.rawValue)!, capacity: slots,
                                                        lowBit: LowBitSimulation(layout: lowSimLayout, capacity: min(lowSlots, total),
                                                                                 fullRank: rule.fullRank(k: trace.k)))
                    let t = s.statistics.total, low = s.lowBit!.total, n = Double(trace.tokens)
                    let demand = (Double(t.misses) * expertBytes + Double(low.misses) * lowExpertBytes) / n
                    let prefetch = Double(t.prefetches) * expertBytes / n
                    let seconds = secondsPerToken(demand: demand, prefetch: prefetch)
                    let requests = Double(t.requests + low.requests)
                    return LowBitPrediction(budgetBytes: budget, share: share, slots: slots, lowBitSlots: lowSlots,
                                            lowBitUses: requests > 0 ? Double(low.requests) / requests : 0,
                                            servedWithoutWaiting: requests > 0 ? Double(t.servedWithoutWaiting + low.servedWithoutWaiting) / requests : 0,
                                            demandBytesPerToken: demand, prefetchBytesPerToken: prefetch, tokensPerSecond: 1 / seconds,
                                            exactTokensPerSecond: exact.tokensPerSecond, speedUp: exact.tokensPerSecond > 0 ? (1 / seconds) / exact.tokensPerSecond : 0)
                }
                let free = budget - plan.processBytes - plan.marginBytes
                if let atLowBit = try predictLowBit(free: free, budget: budget, exact: at) {
                    var sweep: [LowBitPrediction] = []
                    for step in 1 ... 8 {
                        let slots = max(2 * trace.k, total * step / 8)
                        if let p = try predictLowBit(free: slots * plan.slotBytes, budget: budgetBytes(expertBytes: slots * plan.slotBytes),
                                                     exact: try predict(slots: slots)) { sweep.append(p) }
                    }
                    // The split depends on how skewed the routing is: a few hot experts favour full copies, near-uniform
                    // routing the low-bit copies' cache (more of them fit; see Docs/BENCHMARKS.md).
                    let shares = try Self.shares.compactMap { try predictLowBit(free: free, budget: budget, exact: at, share: $0) }
                    lowBit = LowBitPlan(companion: companion, fullRank: rule.fullRank(k: trace.k), lowBitSlotBytes: lowSlotBytes,
                                        atBudget: atLowBit, budgets: sweep, paysUpTo: sweep.prefix { $0.speedUp >= 1.1 }.last?.budgetBytes,
                                        shares: shares, bestShare: shares.max { $0.tokensPerSecond < $1.tokensPerSecond }?.share)
                } else if !json {
                    printErr("--companion: the budget leaves too little for both caches (each needs one layer's top-\(trace.k))")
                }
            }
            let out = Output(model: model, trace: self.trace, policy: policy, plan: plan, computeSecondsPerToken: compute,
                             fullSpeedTokensPerSecond: 1 / compute, diskBytesPerSecond: disk, diskMeasured: diskBandwidth == "auto",
                             atBudget: at, target: target, smallestBudget: smallest, lowBit: lowBit)
            if json { try printJSON(out) } else { print(Self.text(out, tokens: trace.tokens)) }
        }
    }

    /// Routing for calibration runs: token i of the trace takes experts (i·k + j) mod (experts · `spread`)
    /// ... of every layer, so `spread` = 0 pins every layer to experts 0 ..< k, and a cycle through all
    /// experts (`cycle`) makes every request a miss once the cache cannot hold them all.
    static func calibrationRouting(_ m: Model, cycle: Bool) throws -> ForcedRouting {
        let c = m.config
        let moe = (0 ..< c.layerCount).filter(c.isMoELayer).count
        let k = c.expertsPerToken, e = c.expertCount
        let tokens = cycle ? max(1, e / k) : 1
        let ids = (0 ..< tokens).flatMap { t in (0 ..< moe).flatMap { _ in (0 ..< k).map { UInt16((t * k + $0) % e) } } }
        let trace = RoutingTrace(tokens: tokens, layers: moe, k: k, experts: e, ids: ids)
        return try ForcedRouting(trace: trace, model: m, path: cycle ? "(cycling routing)" : "(pinned routing)")
    }

    /// Times `n` tokens; returns (seconds, seconds stalled, bytes read by the cache meanwhile).
    static func timed(_ n: Int, model m: Model, state: InferenceState, cache: ExpertCache) throws -> (Double, Double, Double) {
        let read0 = cache.stats.total.bytesRead, stall0 = cache.stats.total.stallSeconds
        let clock = ContinuousClock(), t0 = clock.now
        for t in 0 ..< n {
            if state.position == state.contextLength { state.reset() }
            _ = try m.forward([t + 1], state: state)
        }
        let after = cache.stats.total
        return ((clock.now - t0).seconds, after.stallSeconds - stall0, Double(after.bytesRead - read0))
    }

    /// Compute seconds per token and the engine's seconds per byte read, each the median of 3 calibrations:
    /// - compute: routing pinned to experts 0 ..< k of every layer (held after the first token when the cache
    ///   has layers × k slots), 8 tokens timed after 2 of warm-up, less any time stalled;
    /// - reads: routing cycling through every expert, so each request misses (when the cache cannot hold all
    ///   experts): (time − compute) / bytes read over 8 tokens. This is what a miss costs the engine, disk
    ///   and CPU together (the I/O threads share the cores with the forward pass); nil when nothing missed.
    static func calibrate(model m: Model, state: InferenceState, cache: ExpertCache) throws -> (compute: Double, perByte: Double?) {
        var computes: [Double] = [], perBytes: [Double] = []
        let pinned = try calibrationRouting(m, cycle: false), cycling = try calibrationRouting(m, cycle: true)
        defer { state.forcedRouting = nil }
        for _ in 0 ..< 3 {
            state.forcedRouting = pinned
            state.reset()
            _ = try timed(2, model: m, state: state, cache: cache)
            let (seconds, stalled, _) = try timed(8, model: m, state: state, cache: cache)
            computes.append(max(1e-6, seconds - stalled) / 8)
            state.forcedRouting = cycling
            _ = try timed(1, model: m, state: state, cache: cache)
            let (s2, _, bytes) = try timed(8, model: m, state: state, cache: cache)
            if bytes > 0 { perBytes.append(max(0, s2 - 8 * computes.last!) / bytes) }
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        return (median(computes), perBytes.count == 3 ? median(perBytes) : nil)
    }

    static func text(_ o: Output, tokens: Int) -> String {
        func line(_ label: String, _ p: Prediction) -> String {
            String(format: "%@: %@ → %d expert slots; hit rate %@, served without waiting %@; reads %.1f MB/token on demand + %.1f MB prefetched; " +
                   "%.2f tokens/s (%@ of full-RAM speed)", label, ByteSize.format(p.budgetBytes), p.slots, pct(p.hitRate), pct(p.servedWithoutWaiting),
                   p.demandBytesPerToken / 1e6, p.prefetchBytesPerToken / 1e6, p.tokensPerSecond, pct(p.shareOfFullSpeed))
        }
        var lines = [
            "model \(o.model), trace \(o.trace) (first \(tokens) tokens), policy \(o.policy.rawValue)",
            String(format: "compute %.1f ms/token (full-RAM speed %.2f tokens/s); expert reads %.0f MB/s%@", o.computeSecondsPerToken * 1e3,
                   o.fullSpeedTokensPerSecond, o.diskBytesPerSecond / 1e6,
                   o.diskMeasured ? " (measured in the engine: disk and CPU time per byte of a miss)" : " (given)"),
            "budget split: process before the cache \(ByteSize.format(o.plan.processBytes)), margin \(ByteSize.format(o.plan.marginBytes)), " +
                "\(o.plan.slots) slots × \(ByteSize.format(o.plan.slotBytes))",
            line("at the budget", o.atBudget),
        ]
        if let s = o.smallestBudget {
            lines.append(line(String(format: "smallest budget for %@ of full speed", pct(o.target)), s))
        } else {
            lines.append("no budget reaches \(pct(o.target)) of full-RAM speed on this disk (even with every expert cached the reads of the first tokens dominate)")
        }
        if let low = o.lowBit {
            func lowLine(_ p: LowBitPrediction) -> String {
                String(format: "  %@: %d + %d low-bit slots; %@ of requests low-bit, served without waiting %@; reads %.1f MB/token on demand + %.1f MB prefetched; " +
                       "%.2f tokens/s against exact %.2f (%.2f×)", ByteSize.format(p.budgetBytes), p.slots, p.lowBitSlots, pct(p.lowBitUses),
                       pct(p.servedWithoutWaiting), p.demandBytesPerToken / 1e6, p.prefetchBytesPerToken / 1e6, p.tokensPerSecond,
                       p.exactTokensPerSecond, p.speedUp)
            }
            lines.append("--miss-precision low with \(low.companion) (top \(low.fullRank) by weight full; low-bit slots of \(ByteSize.format(low.lowBitSlotBytes))), " +
                         "same compute per token assumed; speed only, the perplexity cost is measured, not predicted:")
            lines.append(lowLine(low.atBudget))
            lines.append("  at other budgets:")
            lines += low.budgets.map { "  " + lowLine($0) }
            if let best = low.bestShare {
                let each = low.shares.map { String(format: "%.2f → %.2f× (%.1f MB/token)", $0.share, $0.speedUp, $0.demandBytesPerToken / 1e6) }
                lines.append("  share of the experts' memory for low-bit copies, at the budget: " + each.joined(separator: ", "))
                lines.append(String(format: "  fastest: --low-bit-share %.2f", best))
            }
            lines.append(low.paysUpTo.map { "low-bit pays (≥ 1.1× exact) at every budget up to \(ByteSize.format($0))" } ?? "low-bit does not pay (≥ 1.1× exact) at the smallest of these budgets")
        }
        return lines.joined(separator: "\n")
    }
}
