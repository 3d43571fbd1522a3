import MoEFormats

/// What a trace says on its own, whatever the cache: how often each expert is used, and how far apart
/// an expert's uses are.
public enum TraceAnalysis {
    /// Requests per (layer, expert): `[layers][experts]`.
    public static func useCounts(_ trace: RoutingTrace) -> [[Int]] {
        var counts = Array(repeating: Array(repeating: 0, count: trace.experts), count: trace.layers)
        for t in 0 ..< trace.tokens {
            for l in 0 ..< trace.layers {
                for e in trace.experts(token: t, layer: l) { counts[l][Int(e)] += 1 }
            }
        }
        return counts
    }

    /// Reuse (stack) distance of every request in decode order: the number of distinct experts requested
    /// since the same expert's previous request (nil: its first request). An LRU cache of C experts, asked
    /// one expert at a time, hits exactly the requests whose distance is below C. O(n log n): a Fenwick tree
    /// over request times marks each expert's latest request.
    public static func reuseDistances(_ trace: RoutingTrace) -> (histogram: [Int], edges: [Int], cold: Int) {
        let requests = CacheSimulator.requests(trace)
        let n = requests.count
        var tree = [Int32](repeating: 0, count: n + 1)
        func add(_ i: Int, _ v: Int32) { var i = i + 1; while i <= n { tree[i] += v; i += i & -i } }
        func prefix(_ i: Int) -> Int { var s = 0, i = i; while i > 0 { s += Int(tree[i]); i -= i & -i }; return s }  // marks in [0, i)
        var last = [Int](repeating: -1, count: trace.layers * trace.experts)
        // Bins: 0, 1, 2–3, 4–7, … up to all experts.
        var edges = [0, 1]
        while edges.last! < trace.layers * trace.experts { edges.append(edges.last! * 2) }
        var histogram = [Int](repeating: 0, count: edges.count - 1)
        var cold = 0
        for (time, id) in requests.enumerated() {
            if last[id] < 0 {
                cold += 1
            } else {
                let distance = prefix(time) - prefix(last[id] + 1)   // latest requests of other experts since
                let bin = distance == 0 ? 0 : min(histogram.count - 1, Int.bitWidth - distance.leadingZeroBitCount)
                histogram[bin] += 1
                add(last[id], -1)
            }
            add(time, 1)
            last[id] = time
        }
        return (histogram, edges, cold)
    }
}
