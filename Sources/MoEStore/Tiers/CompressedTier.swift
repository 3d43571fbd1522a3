import Foundation

/// Compressed expert blobs (zstd frames) in RAM, keyed by dense id (0..<ids), under a hard byte capacity.
/// Thread-safe: one lock guards the index; copying a blob in and decompressing it happen outside the lock.
///
/// `usedBytes` counts every byte the tier has malloc'd (one allocation per blob, sized to the blob), and
/// never exceeds `capacityBytes`. Besides the resident blobs it counts two kinds of bytes that cannot be
/// evicted ("pinned"): room reserved for a blob being copied in, and blobs evicted while a reader was still
/// decompressing them (freed by their last reader). Eviction is LRU over insertions and decompressions.
/// An id out of range is a programming error (precondition), like an array index.
public final class CompressedTier: @unchecked Sendable {
    /// One malloc'd blob. `bytes` is immutable (read outside the lock); the counters are guarded by the lock.
    private final class Blob {
        let bytes: UnsafeMutableRawBufferPointer
        var readers = 0
        var evicted = false
        init(_ bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }
    }

    public let ids: Int
    public let capacityBytes: Int

    private let lock = NSLock()
    private var slots: [Blob?]
    private var lru: LRUPolicy
    private var clock = 0 // request index the CachePolicy protocol asks for (LRU ignores it)
    private var held = 0 // bytes: resident + pinned
    private var pinned = 0 // bytes: reserved for copies in flight + evicted blobs still being read
    private var resident = 0

    public init(ids: Int, capacityBytes: Int) {
        precondition(ids >= 0 && capacityBytes >= 0)
        self.ids = ids
        self.capacityBytes = capacityBytes
        slots = [Blob?](repeating: nil, count: ids)
        lru = LRUPolicy(ids: ids)
    }

    deinit {
        // No reader can be running: a reader holds a reference to the tier.
        for case let blob? in slots { free(blob.bytes.baseAddress) }
    }

    /// Bytes held (≤ capacityBytes), see the type's comment.
    public var usedBytes: Int { lock.withLock { held } }
    /// Resident blobs.
    public var count: Int { lock.withLock { resident } }

    public func contains(_ id: Int) -> Bool {
        checkID(id)
        return lock.withLock { slots[id] != nil }
    }

    /// Stores a copy of `compressed` as `id`'s blob (replacing any earlier one), evicting least recently
    /// used blobs until it fits. False when it cannot fit: larger than the capacity, more pinned bytes than
    /// the capacity leaves room for (nothing is evicted then), or malloc failing; `id` is absent then.
    public func insert(_ id: Int, compressed: UnsafeRawBufferPointer) -> Bool {
        checkID(id)
        let n = compressed.count
        // Reserve the room first, then copy outside the lock (blobs are megabytes): the copy is counted
        // while in flight, so the tier's memory never exceeds the capacity.
        let reserved: Bool = lock.withLock {
            drop(id)
            guard n <= capacityBytes, pinned + n <= capacityBytes else { return false }
            while held + n > capacityBytes, resident > 0 { drop(lru.victim()) }
            held += n
            pinned += n
            return true
        }
        guard reserved else { return false }
        let p = malloc(max(n, 1)) // malloc(0) may return NULL
        if let p, n > 0 { p.copyMemory(from: compressed.baseAddress!, byteCount: n) }
        return lock.withLock {
            pinned -= n
            guard let p else { held -= n; return false }
            drop(id) // another thread inserted the same id meanwhile: the last copy wins
            slots[id] = Blob(UnsafeMutableRawBufferPointer(start: p, count: n))
            resident += 1
            clock += 1
            lru.inserted(id, at: clock)
            return true
        }
    }

    /// Decompresses `id`'s blob into `dst` (which it must fill exactly, see `ZstdContext.decompress`) and
    /// marks it used. False when absent. A corrupt blob throws and stays resident (the caller may `remove` it).
    public func decompress(_ id: Int, into dst: UnsafeMutableRawBufferPointer, context: ZstdContext) throws -> Bool {
        checkID(id)
        let blob: Blob? = lock.withLock {
            guard let blob = slots[id] else { return nil }
            blob.readers += 1
            clock += 1
            lru.used(id, at: clock)
            return blob
        }
        guard let blob else { return false }
        defer {
            lock.withLock {
                blob.readers -= 1
                if blob.evicted, blob.readers == 0 {
                    pinned -= blob.bytes.count
                    release(blob)
                }
            }
        }
        _ = try context.decompress(UnsafeRawBufferPointer(blob.bytes), into: dst)
        return true
    }

    public func remove(_ id: Int) {
        checkID(id)
        lock.withLock { drop(id) }
    }

    /// Takes `id`'s blob out of the index (under the lock): freed now, or by its last reader.
    private func drop(_ id: Int) {
        guard let blob = slots[id] else { return }
        slots[id] = nil
        resident -= 1
        lru.removed(id)
        if blob.readers == 0 {
            release(blob)
        } else {
            blob.evicted = true
            pinned += blob.bytes.count
        }
    }

    private func release(_ blob: Blob) {
        free(blob.bytes.baseAddress)
        held -= blob.bytes.count
    }

    private func checkID(_ id: Int) {
        precondition(id >= 0 && id < ids, "CompressedTier: id \(id) out of 0..<\(ids)")
    }
}
