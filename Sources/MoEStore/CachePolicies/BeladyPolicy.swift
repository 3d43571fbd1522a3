/// Belady's MIN, the offline optimum of demand caching: evict the resident expert whose next request is
/// farthest in the future (never requested again: farthest of all). It needs the whole request sequence in
/// advance, so it exists for simulation (a yardstick for the online policies), not for the engine.
public struct BeladyPolicy: CachePolicy {
    /// For each request index, the index of the next request for the same expert (Int.max: none).
    private let nextUse: [Int]
    private var heap: LazyHeap

    /// `requests`: every request's dense expert id, in order (request i happens at time i).
    public init(ids: Int, requests: [Int]) {
        var next = [Int](repeating: Int.max, count: requests.count)
        var seen = [Int](repeating: Int.max, count: ids)
        for i in stride(from: requests.count - 1, through: 0, by: -1) {
            next[i] = seen[requests[i]]
            seen[requests[i]] = i
        }
        nextUse = next
        heap = LazyHeap(ids: ids)
    }

    // The heap keeps the smallest on top, so the priority is the negated next use.
    public mutating func used(_ id: Int, at time: Int) { heap.push(id, priority: -nextUse[time], tiebreak: -id) }
    public mutating func inserted(_ id: Int, at time: Int) { used(id, at: time) }
    public mutating func victim(excluding excluded: (Int) -> Bool) -> Int? { heap.top(excluding: excluded) }
    public mutating func removed(_ id: Int) { heap.remove(id) }
}
