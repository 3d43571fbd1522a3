#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutex with two condition variables: `work` (a load was queued) and `done` (a load finished). The
/// expert cache's compute thread and its I/O threads meet here.
final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let doneCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(workCond, nil)
        pthread_cond_init(doneCond, nil)
    }

    deinit {
        pthread_cond_destroy(workCond)
        pthread_cond_destroy(doneCond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        workCond.deallocate()
        doneCond.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
    /// Waits (lock held) until new work may have been queued.
    func waitWork() { pthread_cond_wait(workCond, mutex) }
    func signalWork(all: Bool = false) { if all { pthread_cond_broadcast(workCond) } else { pthread_cond_signal(workCond) } }
    /// Waits (lock held) until a load may have finished.
    func waitDone() { pthread_cond_wait(doneCond, mutex) }
    /// Waits (lock held) until a load may have finished, or `seconds` have passed.
    func waitDone(seconds: Double) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)   // (the condition's clock)
        let ns = Int(now.tv_nsec) + Int(seconds * 1e9)
        var until = timespec(tv_sec: now.tv_sec + ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000)
        pthread_cond_timedwait(doneCond, mutex, &until)
    }
    func broadcastDone() { pthread_cond_broadcast(doneCond) }
}
