#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Every access goes through a bounds check, so a corrupt
/// offset becomes a `FormatError.outOfBounds`, never a read outside the mapping.
/// The mapping lives as long as this object; tensor views keep a reference to it.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// Size of the file in bytes.
    public let size: Int
    /// Start of the mapping (nil only for an empty file).
    public let base: UnsafeRawPointer?
    /// Anonymous memory filled by the engine (weights converted from a checkpoint's own layout at load),
    /// not a file: `path` then only names what it holds, and nothing can be read back from disk.
    public let isAnonymous: Bool
    /// Set for a copy in memory (`init(copying:path:)`), which deinit frees instead of unmapping.
    private let ownsHeapCopy: Bool

    public init(path: String) throws {
        self.path = path
        isAnonymous = false
        ownsHeapCopy = false
        // O_NONBLOCK: a FIFO given as a model must not hang the open; it is refused below as not a regular file.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        if fd < 0 {
            if errno == ENOENT { throw FormatError.missingFile(path: path) }
            throw FormatError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FormatError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw FormatError.cannotOpen(path: path, reason: "is a directory")
        default: throw FormatError.cannotOpen(path: path, reason: "not a regular file")
        }
        size = Int(st.st_size)
        if size == 0 { base = nil; return }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FormatError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    /// `size` bytes of zeroed anonymous memory that `fill` writes once; read-only afterwards. `name` says
    /// what it holds, for errors.
    public init(anonymous size: Int, name: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        path = name
        isAnonymous = true
        ownsHeapCopy = false
        self.size = size
        if size == 0 { base = nil; return }
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw FormatError.cannotOpen(path: name, reason: "cannot allocate \(size) bytes: \(String(cString: strerror(errno)))")
        }
        do {
            try fill(UnsafeMutableRawBufferPointer(start: p, count: size))
        } catch {
            munmap(p, size)
            throw error
        }
        mprotect(p, size, PROT_READ)
        base = UnsafeRawPointer(p)
    }

    /// Bytes already in memory, read as if they were the file at `path` (which need not exist): for the fuzz
    /// targets (Tools/fuzz), where a heap copy of exactly `bytes.count` bytes lets AddressSanitizer catch a read
    /// even one byte past the end — a mapping's last page would hide it — and no file is written per input.
    public init(copying bytes: UnsafeRawBufferPointer, path: String) {
        self.path = path
        size = bytes.count
        ownsHeapCopy = true
        isAnonymous = true
        guard let source = bytes.baseAddress, size > 0 else { base = nil; return }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        copy.copyMemory(from: source, byteCount: size)
        base = UnsafeRawPointer(copy)
    }

    deinit {
        guard let base else { return }
        if ownsHeapCopy { UnsafeMutableRawPointer(mutating: base).deallocate() } else { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// A checked view of `count` bytes at `offset`. `what` names the thing for the error message.
    public func bytes(at offset: Int, count: Int, what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw FormatError.outOfBounds(path: path, what: what())
        }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    /// Drops these bytes' pages from the process (they fault in again from the file if read): for bytes that a
    /// copy now serves.
    public func releasePages(offset: Int, count: Int) { advise(offset: offset, count: count, advice: Int32(MADV_DONTNEED)) }

    /// Advises the kernel how these bytes will be used (e.g. `MADV_WILLNEED`, `MADV_DONTNEED`).
    /// A range outside the mapping is clipped to it. A heap copy takes no advice, and anonymous memory no
    /// MADV_DONTNEED (it would zero the bytes instead of letting them fault in again from a file).
    public func advise(offset: Int, count: Int, advice: Int32) {
        guard !ownsHeapCopy, !isAnonymous || advice != Int32(MADV_DONTNEED), let base, count > 0, offset >= 0, offset < size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        let end = count > size - offset ? size : offset + count
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, advice)
    }
}

/// A little-endian cursor over a mapped file, for parsing headers. Every read is bounds-checked.
public struct ByteReader {
    public let file: MappedFile
    public var offset: Int

    public init(file: MappedFile, offset: Int = 0) {
        self.file = file
        self.offset = offset
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= file.size, size <= file.size - offset, let base = file.base else {
            throw FormatError.truncated(path: file.path, what: "the file ends inside \(what()) (byte \(offset) of \(file.size))")
        }
        let v = (base + offset).loadUnaligned(as: T.self)
        offset += size
        return T(littleEndian: v)
    }

    public mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    public mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    public mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        guard count >= 0, offset >= 0, offset <= file.size, count <= file.size - offset else {
            throw FormatError.truncated(path: file.path, what: "\(what()) (\(count) bytes at byte \(offset)) runs past the end of the file (\(file.size) bytes)")
        }
        let b = try file.bytes(at: offset, count: count, what: what())
        offset += count
        return b
    }

    /// Bytes left after the cursor.
    public var remaining: Int { max(0, file.size - offset) }
}
