/// Least frequently used: evict the resident expert with the fewest requests so far (counted over the whole
/// run, evicted or not), the least recently used among equals. `decay` < 1 makes old requests count less:
/// every `decayPeriod` requests all counts are multiplied by it (counts are kept in fixed point), so that
/// the cache follows a change of topic; 1 (the default) is plain LFU.
public struct LFUPolicy: CachePolicy {
    private var count: [Int]
    private var lastUse: [Int]
    private var heap: LazyHeap
    public let decay: Double
    public let decayPeriod: Int
    private var nextDecay: Int
    /// One request, in fixed point, so that decayed counts stay integers.
    private static let unit = 1 << 16

    public init(ids: Int, decay: Double = 1, decayPeriod: Int = 4096) {
        count = [Int](repeating: 0, count: ids)
        lastUse = [Int](repeating: -1, count: ids)
        heap = LazyHeap(ids: ids)
        self.decay = decay
        self.decayPeriod = max(1, decayPeriod)
        nextDecay = max(1, decayPeriod)
    }

    private mutating func request(_ id: Int, _ time: Int, resident: Bool) {
        if decay < 1, time >= nextDecay {
            nextDecay += decayPeriod
            for i in count.indices { count[i] = Int(Double(count[i]) * decay) }
            // Every resident's rank changed: re-push them all.
            for i in count.indices where heap.contains(i) { push(i) }
        }
        count[id] += Self.unit
        lastUse[id] = time
        if resident { push(id) }
    }

    /// Smallest count first; among equal counts the oldest last use.
    private mutating func push(_ id: Int) { heap.push(id, priority: count[id], tiebreak: lastUse[id]) }

    public mutating func used(_ id: Int, at time: Int) { request(id, time, resident: true) }
    public mutating func inserted(_ id: Int, at time: Int) { request(id, time, resident: true) }
    /// A guess loaded before any request: ranked by the requests it had before (none for an expert never
    /// used), not counting one, so that a wrong guess is the first to go and a right one earns its place
    /// when it is used.
    public mutating func insertedCold(_ id: Int, at time: Int) { push(id) }
    public mutating func victim(excluding excluded: (Int) -> Bool) -> Int? { heap.top(excluding: excluded) }
    public mutating func removed(_ id: Int) { heap.remove(id) }
}
