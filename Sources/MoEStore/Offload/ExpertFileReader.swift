#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MoEFormats

/// Reads byte ranges of the model's files into memory the caller owns, bypassing the page cache where
/// the file system allows (O_DIRECT), so that experts read from disk do not also sit in the page cache
/// (which a memory cgroup charges to the process). Where O_DIRECT is refused (tmpfs, some network file
/// systems) it reads through the page cache and drops the pages it read right after (POSIX_FADV_DONTNEED).
///
/// Every read is checked: a file that has become shorter than a range gives `OffloadError.fileChanged`,
/// never a fault. Thread-safe: pread on shared descriptors.
public final class ExpertFileReader: @unchecked Sendable {
    /// Alignment of O_DIRECT offsets, lengths and buffers (the logical block size is at most this).
    public static let alignment = 4096

    private let paths: [String]
    private let buffered: [Int32]
    /// O_DIRECT descriptors; -1 where the file system refused O_DIRECT.
    private let direct: [Int32]

    #if os(Linux)
    /// O_DIRECT, which Glibc's Swift overlay does not export (it needs _GNU_SOURCE); from asm/fcntl.h.
    #if arch(arm64) || arch(arm)
    static let oDirect: Int32 = 0o200000
    #else
    static let oDirect: Int32 = 0o40000
    #endif
    #endif

    public init(paths: [String]) throws {
        self.paths = paths
        var b: [Int32] = [], d: [Int32] = []
        for p in paths {
            let fd = open(p, O_RDONLY)
            guard fd >= 0 else { throw OffloadError.io(path: p, what: "cannot open: \(String(cString: strerror(errno)))") }
            b.append(fd)
            #if os(Linux)
            d.append(open(p, O_RDONLY | Self.oDirect))
            #else
            d.append(-1)
            #endif
        }
        (buffered, direct) = (b, d)
    }

    deinit {
        for fd in buffered { close(fd) }
        for fd in direct where fd >= 0 { close(fd) }
    }

    /// Bytes a destination region needs for `count` bytes at any offset: whole aligned blocks, with room
    /// for the offset's misalignment.
    public static func regionBytes(count: Int) -> Int { (count + 2 * alignment - 1) / alignment * alignment }

    /// Where in its region the first byte of a range at `offset` lands.
    public static func lead(offset: Int) -> Int { offset % alignment }

    /// Reads `count` bytes at `offset` of file `file` into `region` (aligned to `alignment`, at least
    /// `regionBytes(count:)` long); the bytes start at `region + lead(offset:)`.
    public func read(file: Int, offset: Int, count: Int, into region: UnsafeMutableRawPointer) throws {
        if count == 0 { return }
        let start = offset - Self.lead(offset: offset)
        let needed = offset + count - start
        let fd = direct[file]
        if fd >= 0 {
            let length = (needed + Self.alignment - 1) / Self.alignment * Self.alignment
            if let got = try readFully(fd, region, length, start, allowEINVAL: true) {
                guard got >= needed else { throw short(file, offset, count) }
                return
            }
            // EINVAL: this file system takes no direct I/O after all; read through the page cache.
        }
        guard let got = try readFully(buffered[file], region + Self.lead(offset: offset), count, offset, allowEINVAL: false),
              got == count else { throw short(file, offset, count) }
        #if os(Linux)
        _ = posix_fadvise(buffered[file], offset, count, POSIX_FADV_DONTNEED)
        #endif
    }

    /// The one O_DIRECT read that `read(file:offset:count:into:)` makes for a range: descriptor, aligned start
    /// and length, and how many of those bytes must arrive (the rest may lie past the end of the file). nil
    /// where the file system refused O_DIRECT.
    public func directRead(file: Int, offset: Int, count: Int) -> (fd: Int32, start: Int, length: Int, needed: Int)? {
        guard direct[file] >= 0, count > 0 else { return nil }
        let start = offset - Self.lead(offset: offset)
        let needed = offset + count - start
        return (direct[file], start, (needed + Self.alignment - 1) / Self.alignment * Self.alignment, needed)
    }

    /// pread until `length` bytes or end of file; the number read, or nil on EINVAL when allowed.
    private func readFully(_ fd: Int32, _ dst: UnsafeMutableRawPointer, _ length: Int, _ offset: Int, allowEINVAL: Bool) throws -> Int? {
        var done = 0
        while done < length {
            let r = pread(fd, dst + done, length - done, off_t(offset + done))
            if r < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL, allowEINVAL, done == 0 { return nil }
                throw OffloadError.io(path: pathOf(fd), what: "read of \(length) bytes at byte \(offset) failed: \(String(cString: strerror(errno)))")
            }
            if r == 0 { break }
            done += r
        }
        return done
    }

    private func pathOf(_ fd: Int32) -> String {
        if let i = buffered.firstIndex(of: fd) ?? direct.firstIndex(of: fd) { return paths[i] }
        return "<model file>"
    }

    private func short(_ file: Int, _ offset: Int, _ count: Int) -> OffloadError {
        var st = stat()
        let size = fstat(buffered[file], &st) == 0 ? Int(st.st_size) : -1
        return .fileChanged(path: paths[file], what: "bytes \(offset)..<\(offset + count) are past its end (\(size) bytes now)")
    }

    /// Drops the page cache of a whole file (after the resident weights were copied out of it).
    public func dropPageCache() {
        #if os(Linux)
        for fd in buffered { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        #endif
    }

    /// Copies `count` bytes at `offset` of file `file` into `dst` through the page cache (for resident weights).
    public func copy(file: Int, offset: Int, count: Int, into dst: UnsafeMutableRawPointer) throws {
        guard let got = try readFully(buffered[file], dst, count, offset, allowEINVAL: false), got == count else {
            throw short(file, offset, count)
        }
    }
}
