/// Which expert an expert cache evicts. One policy per file; the cache and the simulator know only this.
///
/// Experts are dense ids (`layer · experts + expert`, see `ExpertID`); `time` is the index of the request
/// (strictly increasing). The cache calls `used` on every request for an expert that is resident,
/// `inserted` when a missed expert becomes resident (that request counts as its use), `victim` when it
/// needs room (then `removed` with the id it evicts), and `removed` for any other removal. The engine's
/// cache cannot evict experts in use or still loading; it names them in `victim(excluding:)`.
public protocol CachePolicy {
    /// A resident expert was requested.
    mutating func used(_ id: Int, at time: Int)
    /// A missed expert was loaded (its request is at `time`).
    mutating func inserted(_ id: Int, at time: Int)
    /// An expert was loaded on a guess, before any request: it should be the first to go unless it is
    /// used (default: as `inserted`).
    mutating func insertedCold(_ id: Int, at time: Int)
    /// The resident expert to evict next among those `excluded` does not name; nil when all are excluded.
    mutating func victim(excluding excluded: (Int) -> Bool) -> Int?
    /// `id` left the cache.
    mutating func removed(_ id: Int)
    /// A forecast of `layer`'s next choice: `probabilities[x]` for its expert x, summing to about top-k (the
    /// predictive policy's; others ignore it).
    mutating func forecast(layer: Int, probabilities: [Float])
}

extension CachePolicy {
    public mutating func insertedCold(_ id: Int, at time: Int) { inserted(id, at: time) }
    public mutating func forecast(layer: Int, probabilities: [Float]) {}

    /// The resident expert to evict next. Only called when at least one expert is resident.
    public mutating func victim() -> Int { victim(excluding: { _ in false })! }
}

/// Dense expert ids: all layers' experts in one range, so one cache can be shared by all layers.
public enum ExpertID {
    public static func make(layer: Int, expert: Int, experts: Int) -> Int { layer * experts + expert }
}

/// A binary heap of (priority, tiebreak, id) entries, the smallest on top, invalidated lazily: each push
/// gives the id a new version, and a popped entry whose version is not the id's current one is skipped.
/// Used by the policies that rank residents by numbers (LFU, Belady).
struct LazyHeap {
    private struct Entry {
        var priority: Int, tiebreak: Int, id: Int, version: Int
        static func < (a: Entry, b: Entry) -> Bool { (a.priority, a.tiebreak, a.id) < (b.priority, b.tiebreak, b.id) }
    }

    private var items: [Entry] = []
    /// The current version of each id; -1: not in the heap.
    private(set) var version: [Int]
    private var nextVersion = 0
    /// Ids with a valid entry.
    private var live = 0

    init(ids: Int) { version = [Int](repeating: -1, count: ids) }

    func contains(_ id: Int) -> Bool { version[id] >= 0 }

    /// Sets `id`'s entry (replacing any earlier one).
    mutating func push(_ id: Int, priority: Int, tiebreak: Int) {
        nextVersion += 1
        if version[id] < 0 { live += 1 }
        version[id] = nextVersion
        insert(Entry(priority: priority, tiebreak: tiebreak, id: id, version: nextVersion))
    }

    private mutating func insert(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i] < items[p] else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func remove(_ id: Int) {
        if version[id] >= 0 { live -= 1 }
        version[id] = -1
    }

    /// The id with the smallest valid entry that `excluded` does not name (left in the heap).
    mutating func top(excluding excluded: (Int) -> Bool) -> Int? {
        var skipped: [Entry] = []
        defer { for e in skipped { insert(e) } }
        while let first = items.first {
            if version[first.id] == first.version {
                if !excluded(first.id) { return first.id }
                skipped.append(first)
            }
            popFirst()
        }
        return nil
    }

    private mutating func popFirst() {
        let last = items.removeLast()
        guard !items.isEmpty else { return }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, items[l] < items[m] { m = l }
            if r < items.count, items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        // Stale entries pile up when ids are re-pushed often; rebuild once they dominate.
        if items.count > 64, items.count > 4 * live { compact() }
    }

    private mutating func compact() {
        let live = items.filter { version[$0.id] == $0.version }.sorted(by: <)
        items = live // a sorted array is a valid heap
    }
}
