/// BPE merge rules over token ids, and the merge loop itself.
///
/// The loop follows Hugging Face `tokenizers` (and llama.cpp): repeatedly merge the adjacent pair with the
/// lowest rank, the leftmost one when ranks tie, until no adjacent pair has a rule. A min-heap keyed by
/// (rank, position) makes that O(n log n) in the piece length, so even a huge piece without spaces is cheap.
struct MergeTable: Sendable {
    struct Rule: Sendable {
        let rank: Int32
        let merged: Int32
    }

    private let rules: [UInt64: Rule]

    init(rules: [UInt64: Rule]) {
        self.rules = rules
    }

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    func rule(_ left: Int32, _ right: Int32) -> Rule? {
        rules[Self.key(left, right)]
    }

    /// Merges `symbols` (token ids of single bytes, in order) as far as the rules allow.
    func apply(to symbols: [Int32]) -> [Int32] {
        guard symbols.count > 1 else { return symbols }
        if symbols.count == 2 {
            return rule(symbols[0], symbols[1]).map { [$0.merged] } ?? symbols
        }
        // Symbols form a linked list over their original positions; a merge keeps the left position and
        // unlinks the right one (marked -1), so surviving positions stay in text order.
        var ids = symbols
        var next = Array(1 ... symbols.count).map(Int32.init)
        next[symbols.count - 1] = -1
        var prev = Array(-1 ..< symbols.count - 1).map(Int32.init)
        var queue = MinHeap()
        for i in 0 ..< symbols.count - 1 {
            if let r = rule(ids[i], ids[i + 1]) { queue.push(rank: r.rank, position: Int32(i)) }
        }
        while let (rank, position) = queue.pop() {
            let left = Int(position)
            let right = Int(next[left])
            // An entry is stale when either symbol has changed since it was queued. Each rank belongs to
            // exactly one pair, so "the pair here still has this rank" is the complete check.
            guard ids[left] >= 0, right >= 0, let r = rule(ids[left], ids[right]), r.rank == rank else { continue }
            ids[left] = r.merged
            ids[right] = -1
            next[left] = next[right]
            if next[left] >= 0 { prev[Int(next[left])] = Int32(left) }
            if prev[left] >= 0, let before = rule(ids[Int(prev[left])], ids[left]) {
                queue.push(rank: before.rank, position: prev[left])
            }
            if next[left] >= 0, let after = rule(ids[left], ids[Int(next[left])]) {
                queue.push(rank: after.rank, position: Int32(left))
            }
        }
        return ids.filter { $0 >= 0 }
    }
}

/// A binary min-heap of (rank, position) packed into one UInt64, so that plain integer order is
/// "lowest rank first, then leftmost position".
private struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(rank: Int32, position: Int32) {
        items.append(UInt64(UInt32(rank)) << 32 | UInt64(UInt32(position)))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (rank: Int32, position: Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, items[left] < items[smallest] { smallest = left }
                if right < items.count, items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return (Int32(truncatingIfNeeded: top >> 32), Int32(truncatingIfNeeded: top & 0xFFFF_FFFF))
    }
}
