import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Random-read disk bandwidth of one file, as the expert cache sees the disk: 4 MiB reads at
/// random 4 MiB-aligned offsets, with O_DIRECT (no page cache: every byte comes from the device), into
/// page-aligned buffers. MB = 10^6 bytes throughout.
struct DiskBandwidth: Codable {
    let file: String
    /// Bytes of each read.
    let blockBytes: Int
    /// Bytes read by each of the two tests.
    let bytesPerTest: Int
    /// One read at a time, MB/s.
    let singleStreamMBps: Double
    /// `streams` reads in flight (one thread each), MB/s.
    let parallelMBps: Double
    let streams: Int

    enum CodingKeys: String, CodingKey {
        case file, blockBytes = "block_bytes", bytesPerTest = "bytes_per_test"
        case singleStreamMBps = "single_stream_mbps", parallelMBps = "parallel_mbps", streams
    }

    var text: String {
        String(format: "1 stream %.0f MB/s, %d in flight %.0f MB/s", singleStreamMBps, streams, parallelMBps)
    }
}

enum DiskTest {
    /// O_DIRECT, which Glibc's Swift overlay does not export (it needs _GNU_SOURCE); from asm/fcntl.h.
    #if arch(arm64) || arch(arm)
    static let oDirect: Int32 = 0o200000
    #else
    static let oDirect: Int32 = 0o40000
    #endif
    /// Bytes of each read; also the alignment of the offsets.
    static let blockBytes = 4 << 20
    static let pageBytes = 4096

    /// Reads about `bytes` of `file` once with one stream and once with `streams` threads (different random
    /// offsets each time; all of the file's whole 4 MiB blocks, in random order, when it has fewer).
    static func measure(file: String, bytes: Int, streams: Int = 8) throws -> DiskBandwidth {
        let fd = open(file, O_RDONLY | O_CLOEXEC | oDirect)
        guard fd >= 0 else {
            let why = errno == EINVAL ? "the file system refuses O_DIRECT" : String(cString: strerror(errno))
            throw BenchError.missing("disk test: cannot open \(file): \(why)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw BenchError.missing("disk test: \(file) is not a regular file")
        }
        let size = Int(st.st_size)
        guard size > 0 else { throw BenchError.missing("disk test: \(file) is empty") }
        // A file smaller than one block: one read of all of it (O_DIRECT returns the short count).
        let blocks = max(1, size / blockBytes)
        let count = min(blocks, max(1, bytes / blockBytes))
        func offsets() -> [Int] { Array((0 ..< blocks).shuffled().prefix(count)).map { $0 * blockBytes } }
        let single = try timedReads(fd: fd, offsets: offsets(), threads: 1, file: file)
        let parallel = try timedReads(fd: fd, offsets: offsets(), threads: streams, file: file)
        return DiskBandwidth(file: file, blockBytes: blockBytes, bytesPerTest: single.bytes,
                             singleStreamMBps: Double(single.bytes) / single.seconds / 1e6,
                             parallelMBps: Double(parallel.bytes) / parallel.seconds / 1e6, streams: streams)
    }

    /// Reads the blocks at `offsets` with `threads` threads taking them in turn; bytes read and seconds.
    private static func timedReads(fd: Int32, offsets: [Int], threads: Int, file: String) throws -> (bytes: Int, seconds: Double) {
        let work = ReadWork(fd: fd, offsets: offsets)
        let done = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0 ..< threads {
            done.enter()
            let t = Thread { work.drain(); done.leave() }
            t.start()
        }
        done.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let e = work.error { throw BenchError.missing("disk test: reading \(file): \(e)") }
        return (work.bytes, max(seconds, 1e-9))
    }
}

/// Offsets shared by the reading threads, each with its own page-aligned 4 MiB buffer.
private final class ReadWork: @unchecked Sendable {
    let fd: Int32
    let offsets: [Int]
    private let lock = NSLock()
    private var next = 0
    private(set) var bytes = 0
    private(set) var error: String?

    init(fd: Int32, offsets: [Int]) { self.fd = fd; self.offsets = offsets }

    private func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard error == nil, next < offsets.count else { return nil }
        next += 1
        return offsets[next - 1]
    }

    private func finish(_ n: Int, _ e: String?) {
        lock.lock(); defer { lock.unlock() }
        bytes += n
        if error == nil { error = e }
    }

    func drain() {
        let n = DiskTest.blockBytes
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: DiskTest.pageBytes)
        defer { buffer.deallocate() }
        while let offset = take() {
            var got = 0
            while got < n {
                let r = pread(fd, buffer + got, n - got, off_t(offset + got))
                if r < 0 && errno == EINTR { continue }
                if r < 0 { finish(got, String(cString: strerror(errno))); return }
                if r == 0 || r % DiskTest.pageBytes != 0 { got += r; break }   // end of file
                got += r
            }
            finish(got, nil)
        }
    }
}

/// `moe-bench disk`: the disk test alone.
struct DiskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "disk",
        abstract: "Disk read bandwidth of a file: 4 MiB O_DIRECT reads at random offsets, 1 stream and 8 in flight (MB/s, MB = 10^6 bytes).",
        discussion: """
        The test `compare` runs before its first and after its last repetition
        when experts are offloaded. It bypasses the page cache, so it measures the
        device (on a virtual machine, possibly also the host's cache).
        Example: moe-bench disk --file models/olmoe-like-Q4_0.gguf --mib 512
        """)

    @Option(help: "File to read (a model file: the reads the expert cache makes come from it).") var file: String
    @Option(help: "MiB read by each test (the whole file when smaller).") var mib = 512
    @Option(help: "Reads in flight in the parallel test.") var streams = 8
    @Flag(help: "Print JSON instead of a line of text.") var json = false

    func validate() throws {
        guard mib >= 4 else { throw ValidationError("--mib must be ≥ 4 (one 4 MiB read)") }
        guard streams >= 1, streams <= 256 else { throw ValidationError("--streams must be between 1 and 256") }
    }

    func run() throws {
        do {
            let d = try DiskTest.measure(file: file, bytes: mib << 20, streams: streams)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try enc.encode(d), as: UTF8.self))
            } else {
                print("disk: \((file as NSString).lastPathComponent), \(d.bytesPerTest >> 20) MiB per test in 4 MiB O_DIRECT reads at random offsets: \(d.text) (MB = 10^6 bytes)")
            }
        } catch { throw fail(error) }
    }
}
