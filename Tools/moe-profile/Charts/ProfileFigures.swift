import Foundation

/// Everything the SVG report draws, already computed (Foundation only, so the charts can be built and
/// looked at apart from the engine). Shares are 0...1; budgets are shares of all experts.
struct ProfileFigures: Codable, Sendable {
    /// Heading of the report, e.g. "tiny-qwen3moe · trace.bin · 60,019 tokens".
    var title: String
    /// Lines under the heading (model, trace, settings), one per entry.
    var subtitle: [String] = []

    /// Hit rate (or share served without waiting) against cache budget, one curve per policy.
    struct Curve: Codable, Sendable {
        var policy: String            // "lru", "lfu", "predictive", "belady", ...
        var budgets: [Double]         // x: share of all experts held, ascending
        var hitRates: [Double]        // y: same count as budgets
    }
    var curves: [Curve] = []
    /// Optional live measurements to overlay on the curves as points (policy, budget share, hit rate).
    struct Point: Codable, Sendable { var policy: String; var budget: Double; var hitRate: Double }
    var livePoints: [Point] = []

    /// Requests per (layer, expert): `[layers][experts]`.
    var useCounts: [[Int]] = []

    /// Seconds stalled waiting for experts per layer (live runs only; empty when from a trace).
    var stallSecondsPerLayer: [Double] = []
    /// Optional: share served without waiting per layer (hits and timely prefetches; live runs), same count as
    /// stallSecondsPerLayer or empty.
    var hitRatePerLayer: [Double] = []
    /// Optional: predictor recall per layer (predictive policy), same count or empty; nil entries as NaN.
    var recallPerLayer: [Double] = []

    /// Reuse (stack) distance histogram: for each request, the number of distinct experts requested since
    /// the same expert's previous request (an LRU cache of C experts hits exactly those below C).
    /// Bin i counts distances in [binEdges[i], binEdges[i+1]); first requests (cold) counted separately.
    var reuseBinEdges: [Int] = []     // count = reuseCounts.count + 1, ascending (log-spaced: 0,1,2,4,8,...)
    var reuseCounts: [Int] = []
    var coldRequests = 0
    /// Total experts (all layers), to mark budget shares on the reuse-distance axis.
    var totalExperts = 0
}
