import Foundation
import Testing
@testable import MoEKernels

struct ThreadPoolTests {
    @Test("forEach hands out every item exactly once, job after job", arguments: [1, 2, 3, 8])
    func forEachCoversItems(threads: Int) {
        let pool = ThreadPool(threads: threads)
        #expect(pool.threadCount == min(threads, ThreadPool.maxThreads))
        for count in [0, 1, 2, 7, 100, 1000] {
            var hits = [Int](repeating: 0, count: count)
            hits.withUnsafeMutableBufferPointer { h in
                // Each item is written by exactly one thread, so the writes are disjoint.
                pool.forEach(count) { item, worker in
                    precondition(worker >= 0 && worker < pool.threadCount)
                    h[item] += 1
                }
            }
            #expect(hits.allSatisfy { $0 == 1 }, "count \(count)")
        }
    }

    @Test("run calls the body once per thread with distinct worker indices")
    func runOncePerWorker() {
        let pool = ThreadPool(threads: ThreadPool.maxThreads)
        for _ in 0 ..< 2000 { // many short jobs in a row: wake-up races would lose or repeat one
            var seen = [Int](repeating: 0, count: pool.threadCount)
            seen.withUnsafeMutableBufferPointer { s in pool.run { w in s[w] += 1 } }
            #expect(seen.allSatisfy { $0 == 1 })
        }
    }

    @Test("workers that went to sleep wake up for the next job")
    func wakesSleepingWorkers() throws {
        let pool = ThreadPool(threads: 2)
        guard pool.threadCount == 2 else { return } // one processor: nothing to wake
        var done = [0, 0]
        Thread.sleep(forTimeInterval: 0.05) // well past the spin period: the worker sleeps
        done.withUnsafeMutableBufferPointer { d in pool.run { w in d[w] = 1 } }
        #expect(done == [1, 1])
    }

    @Test("thread counts are clamped to 1 ... the active processors")
    func clamps() {
        #expect(ThreadPool(threads: 0).threadCount == 1)
        #expect(ThreadPool(threads: -3).threadCount == 1)
        #expect(ThreadPool(threads: 10_000).threadCount == ThreadPool.maxThreads)
        #expect(ThreadPool.physicalCores >= 1 && ThreadPool.physicalCores <= ThreadPool.maxThreads)
    }
}
