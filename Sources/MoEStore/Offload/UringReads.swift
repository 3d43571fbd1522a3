#if os(Linux)
import CUring
import Glibc

/// Reads through one io_uring (liburing, behind CUring's small C API), submitted and reaped by the thread that
/// owns it (the expert cache's compute thread, under the cache's lock): any number of reads in flight, up to
/// the ring's depth, without a thread per read, so no I/O thread's wake-up takes time from the forward pass.
///
/// The destination memory (the cache's slot arena) is registered with the kernel in chunks of at most
/// 1 GiB once `registerArena()` has run (`read_fixed`: its pages are not pinned again per read); before it, or
/// where the kernel refuses (RLIMIT_MEMLOCK without CAP_IPC_LOCK), plain reads into the same memory.
final class UringReads {
    private let ring: OpaquePointer
    let depth: Int
    /// Registered chunks: [base, base + chunkBytes) each; 0 until registered, or when registration was refused.
    private let arena: UnsafeMutableRawPointer
    private let arenaBytes: Int
    private let chunkBytes: Int
    private var chunks = 0
    /// Reads submitted whose completion has not been reaped.
    private(set) var inFlight = 0
    private var unsubmitted = 0

    /// nil when this kernel or process may not use io_uring (old kernel, seccomp, io_uring_disabled).
    /// `chunkBytes`: a multiple of the unit no read crosses (a slot), at most 1 GiB (the kernel's limit).
    init?(depth: Int, arena: UnsafeMutableRawPointer, arenaBytes: Int, chunkBytes: Int) {
        guard let ring = moe_uring_create(UInt32(depth)) else { return nil }
        self.ring = ring
        self.depth = depth
        (self.arena, self.arenaBytes, self.chunkBytes) = (arena, arenaBytes, chunkBytes)
    }

    /// Registers the arena with the kernel (pins its pages; fast once they are faulted in, seconds on a VM when
    /// they are not). Safe beside reads in flight and beside `queue`/`submit` on another thread: the kernel
    /// serializes them and no ring memory is written here. Returns whether the kernel accepted; `useRegistered`
    /// then switches `queue` to fixed reads (under the caller's lock).
    func registerArena() -> Bool {
        let count = (arenaBytes + chunkBytes - 1) / chunkBytes
        let bases: [UnsafeMutableRawPointer?] = (0 ..< count).map { arena + $0 * chunkBytes }
        let lengths = (0 ..< count).map { min(chunkBytes, arenaBytes - $0 * chunkBytes) }
        return moe_uring_register_buffers(ring, bases, lengths, UInt32(count)) == 0
    }

    /// From now on reads are `read_fixed` into the registered chunks (after `registerArena()` returned true).
    func useRegistered() { chunks = (arenaBytes + chunkBytes - 1) / chunkBytes }

    deinit { moe_uring_destroy(ring) }

    /// Whether the arena is registered (reads are `read_fixed`).
    var registered: Bool { chunks > 0 }

    /// Queues a read of `length` bytes at `offset` of `fd` into `dst` (inside the arena), tagged `tag`.
    /// False when the ring is full (reap first).
    func queue(fd: Int32, into dst: UnsafeMutableRawPointer, length: Int, offset: Int, tag: UInt64) -> Bool {
        guard inFlight < depth else { return false }
        let buffer = registered ? Int32((dst - arena) / chunkBytes) : -1
        guard moe_uring_queue_read(ring, fd, dst, UInt32(length), UInt64(offset), buffer, tag) == 0 else { return false }
        inFlight += 1
        unsubmitted += 1
        return true
    }

    /// Hands the queued reads to the kernel (one system call for all of them).
    func submit() {
        guard unsubmitted > 0 else { return }
        let r = moe_uring_submit(ring)
        if r >= 0 { unsubmitted -= Int(r) }
    }

    /// Calls `body(tag, result)` for each completed read (result: bytes read, or -errno); with `wait`, first
    /// blocks until at least one has completed (when any is in flight).
    func reap(wait: Bool, _ body: (UInt64, Int32) -> Void) {
        submit()
        var tag: UInt64 = 0, result: Int32 = 0
        var block = wait
        while inFlight > 0, moe_uring_next(ring, block ? 1 : 0, &tag, &result) == 1 {
            block = false
            inFlight -= 1
            body(tag, result)
        }
    }
}
#endif
