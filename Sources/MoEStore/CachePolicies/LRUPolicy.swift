/// Least recently used: evict the resident expert whose last request is oldest. A doubly linked list over
/// dense ids, most recent at the head: O(1) per request.
public struct LRUPolicy: CachePolicy {
    private var prev: [Int], next: [Int]
    private var head = -1, tail = -1

    public init(ids: Int) {
        prev = [Int](repeating: -1, count: ids)
        next = [Int](repeating: -1, count: ids)
    }

    private mutating func unlink(_ id: Int) {
        if prev[id] >= 0 { next[prev[id]] = next[id] } else { head = next[id] }
        if next[id] >= 0 { prev[next[id]] = prev[id] } else { tail = prev[id] }
        prev[id] = -1
        next[id] = -1
    }

    private mutating func pushFront(_ id: Int) {
        prev[id] = -1
        next[id] = head
        if head >= 0 { prev[head] = id }
        head = id
        if tail < 0 { tail = id }
    }

    public mutating func used(_ id: Int, at time: Int) {
        unlink(id)
        pushFront(id)
    }

    public mutating func inserted(_ id: Int, at time: Int) { pushFront(id) }

    /// At the least recent end: evicted first unless used.
    public mutating func insertedCold(_ id: Int, at time: Int) {
        prev[id] = tail
        next[id] = -1
        if tail >= 0 { next[tail] = id }
        tail = id
        if head < 0 { head = id }
    }
    public mutating func victim(excluding excluded: (Int) -> Bool) -> Int? {
        var id = tail
        while id >= 0, excluded(id) { id = prev[id] }
        return id >= 0 ? id : nil
    }
    public mutating func removed(_ id: Int) { unlink(id) }
}
