import Foundation

/// Remembers the ids of pieces already merged; real text repeats the same words constantly.
/// Shared by all callers of one Tokenizer, so every access holds a lock. (NSLock rather than
/// Synchronization's Mutex, which needs macOS 15 while the package supports macOS 14.)
final class PieceCache: @unchecked Sendable {
    // @unchecked: `entries` is only touched while `lock` is held.
    private let lock = NSLock()
    private var entries: [ArraySlice<UInt8>: [Int]] = [:]
    /// Like Hugging Face, stop adding once full rather than evict: a long-running process cannot grow
    /// the cache without bound, and the common words are the ones seen first anyway.
    private let capacity: Int
    /// Long pieces rarely repeat and would make every key comparison slow.
    let maxPieceLength: Int

    init(capacity: Int = 100_000, maxPieceLength: Int = 256) {
        self.capacity = capacity
        self.maxPieceLength = maxPieceLength
    }

    /// Looks up a slice of the caller's text without copying it.
    func ids(for piece: ArraySlice<UInt8>) -> [Int]? {
        lock.withLock { entries[piece] }
    }

    func store(_ ids: [Int], for piece: ArraySlice<UInt8>) {
        guard piece.count <= maxPieceLength else { return }
        // Copy the key so that the cache does not keep the caller's whole text alive.
        let key = ArraySlice(Array(piece))
        lock.withLock {
            if entries.count < capacity { entries[key] = ids }
        }
    }
}
