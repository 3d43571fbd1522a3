#if os(Linux)
import CLiburing
import Glibc

/// Reads through one io_uring (liburing), submitted and reaped by the thread that owns it (the expert
/// cache's compute thread, under the cache's lock): any number of reads in flight, up to the ring's depth,
/// without a thread per read, so no I/O thread's wake-up takes time from the forward pass.
///
/// The destination memory (the cache's slot arena) is registered with the kernel in chunks of at most
/// 1 GiB where the kernel allows it (`read_fixed`: its pages are not pinned again per read); where it does
/// not (RLIMIT_MEMLOCK without CAP_IPC_LOCK), plain reads into the same memory.
final class UringReads {
    private var ring = io_uring()
    let depth: Int
    /// Registered chunks: [base, base + chunkBytes) each; empty when registration was refused.
    private let arena: UnsafeMutableRawPointer
    private let chunkBytes: Int
    private let chunks: Int
    /// Reads submitted whose completion has not been reaped.
    private(set) var inFlight = 0
    private var unsubmitted = 0

    /// nil when this kernel or process may not use io_uring (old kernel, seccomp, io_uring_disabled).
    /// `chunkBytes`: a multiple of the unit no read crosses (a slot), at most 1 GiB (the kernel's limit).
    init?(depth: Int, arena: UnsafeMutableRawPointer, arenaBytes: Int, chunkBytes: Int) {
        self.depth = depth
        self.arena = arena
        guard io_uring_queue_init(UInt32(depth), &ring, 0) == 0 else { return nil }
        let count = (arenaBytes + chunkBytes - 1) / chunkBytes
        var vecs = (0 ..< count).map { i in
            iovec(iov_base: arena + i * chunkBytes, iov_len: min(chunkBytes, arenaBytes - i * chunkBytes))
        }
        let registered = io_uring_register_buffers(&ring, &vecs, UInt32(count)) == 0
        (self.chunkBytes, self.chunks) = (chunkBytes, registered ? count : 0)
    }

    deinit { io_uring_queue_exit(&ring) }

    /// Whether the arena is registered (reads are `read_fixed`).
    var registered: Bool { chunks > 0 }

    /// Queues a read of `length` bytes at `offset` of `fd` into `dst` (inside the arena), tagged `tag`.
    /// False when the ring is full (reap first).
    func queue(fd: Int32, into dst: UnsafeMutableRawPointer, length: Int, offset: Int, tag: UInt64) -> Bool {
        guard inFlight < depth, let sqe = io_uring_get_sqe(&ring) else { return false }
        if registered {
            let index = (dst - arena) / chunkBytes
            io_uring_prep_read_fixed(sqe, fd, dst, UInt32(length), UInt64(offset), Int32(index))
        } else {
            io_uring_prep_read(sqe, fd, dst, UInt32(length), UInt64(offset))
        }
        io_uring_sqe_set_data64(sqe, tag)
        inFlight += 1
        unsubmitted += 1
        return true
    }

    /// Hands the queued reads to the kernel (one system call for all of them).
    func submit() {
        guard unsubmitted > 0 else { return }
        var r: Int32
        repeat { r = io_uring_submit(&ring) } while r == -EINTR
        if r >= 0 { unsubmitted -= Int(r) }
    }

    /// Calls `body(tag, result)` for each completed read (result: bytes read, or -errno); with `wait`, first
    /// blocks until at least one has completed (when any is in flight).
    func reap(wait: Bool, _ body: (UInt64, Int32) -> Void) {
        submit()
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        if wait, inFlight > 0 {
            var r: Int32
            repeat { r = io_uring_wait_cqe(&ring, &cqe) } while r == -EINTR
        }
        while inFlight > 0, io_uring_peek_cqe(&ring, &cqe) == 0, let c = cqe {
            let tag = c.pointee.user_data, res = c.pointee.res
            io_uring_cqe_seen(&ring, c)
            inFlight -= 1
            body(tag, res)
        }
    }
}
#endif
