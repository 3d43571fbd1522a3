import Atomics
import CKernels
import Dispatch
import Foundation

/// One persistent set of worker threads that run one parallel job at a time, the calling thread taking
/// part as worker 0. Threads are made once, in `init`; a job costs no thread creation, only a wake-up.
///
/// Between jobs, workers spin for a short while (`spinIterations` pause instructions, ≈0.5 ms) before
/// sleeping on a semaphore: the forward pass runs dozens of short jobs per token, and a spinning worker
/// starts a new one in well under a microsecond where a sleeping one needs tens of microseconds.
///
/// Not reentrant: a job must not start another job on the same pool. Only one thread may call `run`
/// at a time (the pool belongs to one inference state).
public final class ThreadPool: @unchecked Sendable {
    /// Threads that run a job, the caller included (≥ 1).
    public let threadCount: Int
    private let shared: Shared
    private let threads: [Thread]

    /// Physical cores of this machine (hyperthread siblings counted once), from
    /// /sys/devices/system/cpu/*/topology/core_cpus_list where Linux has it; else the active processors.
    public static let physicalCores: Int = {
        let active = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var cores = Set<String>()
        for cpu in 0 ..< active {
            let path = "/sys/devices/system/cpu/cpu\(cpu)/topology/core_cpus_list"
            guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { return active }
            cores.insert(s.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return max(1, min(active, cores.count))
    }()

    /// The most threads a pool may have: the active processors (more would only time-slice).
    public static var maxThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// A pool of `threads` threads (the caller and `threads - 1` workers), clamped to 1 ... maxThreads.
    public init(threads: Int = ThreadPool.physicalCores) {
        threadCount = min(max(1, threads), Self.maxThreads)
        let shared = Shared(workers: threadCount - 1)
        self.shared = shared
        self.threads = (1 ..< threadCount).map { index in
            let t = Thread { shared.workerLoop(index: index) }
            t.name = "moe-worker-\(index)"
            t.stackSize = 1 << 20
            t.start()
            return t
        }
    }

    deinit { shared.shutdown() }

    /// Runs `body(worker)` once on each of the `threadCount` threads (worker 0 is the caller) and returns
    /// when all have finished. The body must make the workers touch disjoint memory.
    public func run(_ body: (_ worker: Int) -> Void) {
        if threadCount == 1 { body(0); return }
        withoutActuallyEscaping(body) { shared.run($0) }
    }

    /// Runs `body(item, worker)` for every item in 0 ..< count, items handed out one at a time to whichever
    /// thread is free (so uneven items balance); `worker` (0 ..< threadCount) names the thread, for
    /// per-thread scratch. Runs on the caller alone when count is 1 or `parallel` is false.
    public func forEach(_ count: Int, parallel: Bool = true, _ body: (_ item: Int, _ worker: Int) -> Void) {
        if count <= 0 { return }
        if count == 1 || !parallel || threadCount == 1 {
            for i in 0 ..< count { body(i, 0) }
            return
        }
        let next = shared.nextItem
        next.store(0, ordering: .relaxed)
        run { worker in
            while true {
                let i = next.loadThenWrappingIncrement(ordering: .relaxed)
                if i >= count { break }
                body(i, worker)
            }
        }
    }

    /// The state the workers share with the pool. Kept apart from `ThreadPool` so that the workers,
    /// which hold it, do not keep the pool alive: the pool's deinit stops them.
    private final class Shared: @unchecked Sendable {
        static let spinIterations = 20_000
        /// Bumped once per job; -1 means shut down.
        let generation = ManagedAtomic<Int>(0)
        /// Workers that have not finished the current job.
        let pending = ManagedAtomic<Int>(0)
        /// Item counter of `forEach`.
        let nextItem = ManagedAtomic<Int>(0)
        let sleeping: [ManagedAtomic<Bool>]
        let wakeups: [DispatchSemaphore]
        /// The current job; written by the caller before the generation is bumped (release), read by
        /// workers after they see the new generation (acquire).
        var job: ((Int) -> Void)?

        init(workers: Int) {
            sleeping = (0 ... workers).map { _ in ManagedAtomic(false) }
            wakeups = (0 ... workers).map { _ in DispatchSemaphore(value: 0) }
        }

        func run(_ body: @escaping (Int) -> Void) {
            job = body
            pending.store(wakeups.count - 1, ordering: .relaxed)
            generation.wrappingIncrement(ordering: .sequentiallyConsistent)
            wakeSleepers()
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) != 0 {
                // The caller waits for stragglers by spinning; it yields the core now and then in case a
                // worker was descheduled onto it.
                spins += 1
                if spins & 1023 == 0 { sched_yield() } else { moe_cpu_relax() }
            }
            job = nil
        }

        func shutdown() {
            generation.store(-1, ordering: .sequentiallyConsistent)
            wakeSleepers()
        }

        private func wakeSleepers() {
            for w in 1 ..< wakeups.count where sleeping[w].exchange(false, ordering: .sequentiallyConsistent) {
                wakeups[w].signal()
            }
        }

        func workerLoop(index: Int) {
            var seen = 0
            while true {
                var spins = 0
                var gen = generation.load(ordering: .acquiring)
                while gen == seen {
                    if spins < Self.spinIterations {
                        spins += 1
                        moe_cpu_relax()
                    } else {
                        // Announce the sleep, then look once more: a job posted in between either sees
                        // the flag (and signals) or is seen here (sequentially consistent order).
                        sleeping[index].store(true, ordering: .sequentiallyConsistent)
                        if generation.load(ordering: .sequentiallyConsistent) == seen {
                            wakeups[index].wait()
                        }
                        sleeping[index].store(false, ordering: .sequentiallyConsistent)
                        spins = 0
                    }
                    gen = generation.load(ordering: .acquiring)
                }
                if gen < 0 { return }
                seen = gen
                job!(index)
                pending.wrappingDecrement(ordering: .releasing)
            }
        }
    }
}
