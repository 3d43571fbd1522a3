import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file dropped from the page cache before a run, with how much of it was cached before and after (bytes).
public struct DroppedFile: Sendable, Codable, Equatable {
    public let path: String
    public let sizeBytes: Int
    public let residentBeforeBytes: Int
    /// What stayed cached: pages mapped by a running process, dirty or under writeback. These stay charged
    /// to whichever cgroup first read them, so the child reads them for free and its peak is that much low.
    public let residentAfterBytes: Int
}

public enum PageCache {
    /// Drops `path` from the page cache: fdatasync (so that pages of a file just written are clean and can
    /// go; cheap when nothing is dirty) and posix_fadvise(POSIX_FADV_DONTNEED) over the whole file.
    ///
    /// Why: cgroup v1 charges a page-cache page to the cgroup of the process that first brought it in, for
    /// as long as it stays cached (v2 likewise). A model file already cached by an earlier run is charged
    /// elsewhere, so a limited child would read it without it counting; dropped first, every page the child
    /// reads is charged to the child's cgroup and counts against its limit.
    public static func drop(_ path: String) throws(MemLimitError) -> DroppedFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .dropFile(path, errnoText()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .dropFile(path, errnoText()) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .dropFile(path, "not a regular file") }
        let size = Int(st.st_size)
        let before = residentBytes(fd: fd, size: size) ?? 0
        _ = fdatasync(fd)
        let rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)   // returns the error number, not -1/errno
        guard rc == 0 else { throw .dropFile(path, "posix_fadvise: \(errnoText(rc))") }
        let after = residentBytes(fd: fd, size: size) ?? 0
        return DroppedFile(path: path, sizeBytes: size, residentBeforeBytes: before, residentAfterBytes: after)
    }

    /// Bytes of the file now in the page cache: mincore over a read-only mapping of it, which looks at the
    /// cache without reading anything in. nil when the file cannot be mapped.
    public static func residentBytes(fd: Int32, size: Int) -> Int? {
        guard size > 0 else { return 0 }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), base != MAP_FAILED else { return nil }
        defer { munmap(base, size) }
        let pages = (size + page - 1) / page
        var vec = [UInt8](repeating: 0, count: pages)
        guard mincore(base, size, &vec) == 0 else { return nil }
        let resident = vec.reduce(0) { $0 + Int($1 & 1) }
        return min(resident * page, size)
    }

    /// `residentBytes` for a path; nil when it cannot be opened or mapped.
    public static func residentBytes(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return residentBytes(fd: fd, size: Int(st.st_size))
    }
}
