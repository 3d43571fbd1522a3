import ArgumentParser
import Foundation
import MoEFormats
import MoEModel
import MoEStore

extension SimulatedPolicy: ExpressibleByArgument {}

/// A cache size given on the command line: a share of all experts (0.25) or bytes of expert cache (512MiB).
enum Budget: Equatable, CustomStringConvertible {
    case share(Double)
    case bytes(Int)

    init(parsing text: String) throws {
        if let x = Double(text) {
            guard x > 0, x <= 1 else { throw ValidationError("budget \(text): a share of all experts must be in (0, 1]") }
            self = .share(x)
        } else {
            do { self = .bytes(try ByteSize.parse(text)) } catch {
                throw ValidationError("budget '\(text)': neither a share of all experts (0.25) nor a size (512MiB): \(error)")
            }
        }
    }

    var description: String {
        switch self {
        case let .share(x): return String(format: "%g", x)
        case let .bytes(n): return ByteSize.format(n)
        }
    }

    /// Experts held: a share of `total` rounded down, or as many slots of `slotBytes` as the bytes pay for.
    func experts(total: Int, slotBytes: Int?) throws -> Int {
        switch self {
        case let .share(x): return Int((x * Double(total)).rounded(.down))
        case let .bytes(n):
            guard let slotBytes else { throw ValidationError("budget \(description) in bytes needs --model (for the size of an expert)") }
            return n / slotBytes
        }
    }
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a routing trace through the cache policies at several budgets, beside Belady's optimum.",
        discussion: """
        Requests are replayed in decode order (token by token, layer by layer, each layer's chosen experts in
        the router's order). lru, lfu and predictive run the engine's own cache code in simulation mode: the
        same eviction, the same pinning of a layer's experts while they are used, the same guesses of the
        predictor (from transition statistics; a trace has no hidden states for the routers), with loads that
        take no time, so prefetches are never late. belady is Belady's MIN: it evicts the expert needed
        furthest in the future, the best any cache without prefetch can do.

        Budgets: shares of all experts (0.125,0.25) or bytes of expert cache (512MiB, with --model for the
        size of one expert). --per-layer gives every layer its own cache of budget / layers.
        --one-at-a-time requests each expert alone (the replay tables of ../shared/README.md count that way);
        by default a layer's experts are requested together as the engine does, so that a miss never evicts
        an expert the same layer is about to use.

        Reported: hit rate (requests finding their expert from an earlier use), served without waiting (adds
        timely prefetches), experts loaded per token (misses and prefetches; MB with --model), and for the
        predictive policy its recall per layer beside LRU's hit rate.
        """
    )

    @Option(help: ArgumentHelp("Routing trace: moe-profile record's output (binary or .json) or a trace.bin with its trace.json.", valueName: "path"))
    var trace: String

    @Option(name: .shortAndLong, help: "The model the trace belongs to (optional): sizes for byte budgets and MB read; the trace's shape is checked against it.")
    var model: String?

    @Option(help: ArgumentHelp("Cache sizes, comma-separated: shares of all experts or sizes.", valueName: "0.125,0.25,0.5,0.75"))
    var budgets = "0.125,0.25,0.5,0.75"

    @Option(help: ArgumentHelp("Policies, comma-separated.", valueName: "lru,lfu,predictive,belady"))
    var policies = "lru,lfu,predictive,belady"

    @Flag(help: "Every layer its own cache of budget / layers (default: one cache for all layers).")
    var perLayer = false

    @Flag(help: "Request each expert alone (textbook replay; the tables of ../shared/README.md) instead of a layer's experts together.")
    var oneAtATime = false

    @Option(help: "Replay only the first N tokens of the trace.")
    var maxTokens: Int?

    @OptionGroup var report: ReportOptions

    func validate() throws {
        _ = try budgetList()
        _ = try policyList()
        if let n = maxTokens, n < 1 { throw ValidationError("--max-tokens must be ≥ 1") }
    }

    func budgetList() throws -> [Budget] {
        let items = budgets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.isEmpty, items.allSatisfy({ !$0.isEmpty }) else { throw ValidationError("--budgets: give one or more, comma-separated") }
        return try items.map(Budget.init(parsing:))
    }

    func policyList() throws -> [SimulatedPolicy] {
        try policies.split(separator: ",").map { name in
            guard let p = SimulatedPolicy(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--policies: unknown policy '\(name)' (use lru, lfu, predictive, belady)")
            }
            return p
        }
    }

    /// One row of the result: a budget and a policy.
    struct Row: Codable {
        var budget: String
        var share: Double
        var simulation: Simulation
        var bytesReadPerToken: Double?
        enum CodingKeys: String, CodingKey { case budget, share, simulation, bytesReadPerToken = "bytes_read_per_token" }
    }

    struct Output: Codable {
        var trace: String
        var tokens: Int
        var layers: Int
        var experts: Int
        var k: Int
        var requests: String
        var perLayer: Bool
        var rows: [Row]
        var figures: ProfileFigures
        enum CodingKeys: String, CodingKey { case trace, tokens, layers, experts, k, requests, perLayer = "per_layer", rows, figures }
    }

    func run() throws {
        try reportingErrors {
            let store = try model.map { try WeightStore(path: $0) }
            var trace = try loadTrace(self.trace, config: store?.config)
            if let n = maxTokens, n < trace.tokens { trace = trace.tokens(in: 0 ..< n) }
            let layout = try store.map { try $0.expertLayout() }
            let slotBytes = layout.map(ExpertCache.slotBytes(for:))
            let expertBytes = layout.map { $0.maxExpertBytes }
            let simLayout = CacheSimulator.layout(for: trace, expertBytes: expertBytes ?? 3)
            let total = trace.layers * trace.experts
            var rows: [Row] = []
            for budget in try budgetList() {
                let capacity = try budget.experts(total: total, slotBytes: slotBytes)
                for policy in try policyList() {
                    let s = try CacheSimulator.simulate(trace, layout: simLayout, policy: policy, capacity: capacity, perLayer: perLayer,
                                                        requests: oneAtATime ? .single : .layer)
                    let perToken = expertBytes.map { _ in Double(s.statistics.total.bytesRead) / Double(trace.tokens) }
                    rows.append(Row(budget: budget.description, share: Double(capacity) / Double(total), simulation: s, bytesReadPerToken: perToken))
                }
            }
            let figures = Self.figures(trace: trace, path: self.trace, rows: rows, perLayer: perLayer)
            let out = Output(trace: self.trace, tokens: trace.tokens, layers: trace.layers, experts: trace.experts, k: trace.k,
                             requests: oneAtATime ? "single" : "layer", perLayer: perLayer, rows: rows, figures: figures)
            if report.json { try printJSON(out) } else if report.csv { print(Self.csv(rows), terminator: "") } else { print(Self.table(out)) }
            try report.writeSVG(figures)
        }
    }

    static func figures(trace: RoutingTrace, path: String, rows: [Row], perLayer: Bool) -> ProfileFigures {
        var f = ProfileFigures(title: "\(URL(fileURLWithPath: path).lastPathComponent) · \(trace.tokens.formatted()) tokens")
        f.subtitle = ["\(trace.layers) layers × \(trace.experts) experts, top-\(trace.k) · \(trace.layers * trace.experts) experts in all",
                      "simulated: \(perLayer ? "one cache per layer" : "one cache for all layers"); predictive counts timely prefetches as served"]
        var order: [SimulatedPolicy] = []
        for r in rows where !order.contains(r.simulation.policy) { order.append(r.simulation.policy) }
        f.curves = order.map { p in
            let mine = rows.filter { $0.simulation.policy == p }.sorted { $0.share < $1.share }
            return .init(policy: p.rawValue, budgets: mine.map(\.share), hitRates: mine.map(\.simulation.servedWithoutWaiting))
        }
        f.useCounts = TraceAnalysis.useCounts(trace)
        let reuse = TraceAnalysis.reuseDistances(trace)
        (f.reuseCounts, f.reuseBinEdges, f.coldRequests) = (reuse.histogram, reuse.edges, reuse.cold)
        f.totalExperts = trace.layers * trace.experts
        return f
    }

    static func table(_ o: Output) -> String {
        var lines = ["\(o.trace): \(o.tokens) tokens × \(o.layers) layers, top-\(o.k) of \(o.experts) experts; " +
                     "\(o.perLayer ? "a cache per layer" : "one cache for all layers"), \(o.requests == "single" ? "one expert per request" : "a layer's experts per request")"]
        let mb = o.rows.contains { $0.bytesReadPerToken != nil }
        lines.append("budget      experts  policy       hit rate  served  loaded/token" + (mb ? "  MB read/token" : "") + "  wasted prefetches")
        for r in o.rows {
            let s = r.simulation, t = s.statistics.total
            let loads = Double(t.misses + t.prefetches) / Double(max(1, s.statistics.tokens))
            lines.append(pad(r.budget, 10) + pad(String(s.capacity), -9) + "  " + pad(s.policy.rawValue, 11) + pad(pct(s.hitRate), -9) +
                         pad(pct(s.servedWithoutWaiting), -8) + String(format: " %13.2f", loads) +
                         (mb ? String(format: " %14.1f", (r.bytesReadPerToken ?? 0) / 1e6) : "") +
                         String(format: " %18d", t.wastedPrefetches))
        }
        // The predictive policy's recall per layer beside LRU's hit rate, at each budget that has both.
        for budget in Set(o.rows.map(\.budget)).sorted() {
            guard let lru = o.rows.first(where: { $0.budget == budget && $0.simulation.policy == .lru }),
                  let pred = o.rows.first(where: { $0.budget == budget && $0.simulation.policy == .predictive }),
                  let recall = pred.simulation.predictionRecall else { continue }
            lines.append("")
            lines.append("budget \(budget) (\(pred.simulation.capacity) experts), per layer: LRU hit rate, predictive served without waiting, predictor recall")
            lines.append("layer  lru hit  predictive served  recall")
            for l in 0 ..< o.layers {
                let a = lru.simulation.statistics.layers[l], b = pred.simulation.statistics.layers[l]
                lines.append(pad(String(l), -5) + pad(pct(Double(a.hits) / Double(max(1, a.requests))), -9) +
                             pad(pct(Double(b.servedWithoutWaiting) / Double(max(1, b.requests))), -19) + pad(recall[l].map(pct) ?? "-", -8))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func csv(_ rows: [Row]) -> String {
        var out = csvLine(["budget", "share", "experts", "policy", "per_layer", "requests", "hits", "prefetch_hits", "misses", "prefetches",
                           "wasted_prefetches", "hit_rate", "served_without_waiting", "bytes_read_per_token"]) + "\n"
        for r in rows {
            let s = r.simulation, t = s.statistics.total
            out += csvLine([r.budget, String(r.share), String(s.capacity), s.policy.rawValue, String(s.perLayer), String(t.requests),
                            String(t.hits), String(t.prefetchHits), String(t.misses), String(t.prefetches), String(t.wastedPrefetches),
                            String(s.hitRate), String(s.servedWithoutWaiting), r.bytesReadPerToken.map { String($0) } ?? ""]) + "\n"
        }
        return out
    }
}
