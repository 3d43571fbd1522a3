import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong while writing a model file. Writers validate what they are given before
/// the first byte goes out, so most of these are caught at `add…` time rather than half-way through a file.
public enum WriterError: Error, CustomStringConvertible, Equatable, Sendable {
    case cannotCreate(path: String, reason: String)
    case ioFailed(path: String, reason: String)
    case invalidTensor(name: String, reason: String)
    case invalidMetadata(key: String, reason: String)
    case duplicateTensor(name: String)
    /// A tensor's producer wrote a different number of bytes than its type and shape need.
    case wrongByteCount(tensor: String, expected: Int, written: Int)
    /// `finish()` was called twice, or a tensor was added after it.
    case alreadyFinished(path: String)

    public var description: String {
        switch self {
        case let .cannotCreate(path, reason): return "\(path): cannot create: \(reason)"
        case let .ioFailed(path, reason): return "\(path): write failed: \(reason)"
        case let .invalidTensor(name, reason): return "tensor '\(name)': \(reason)"
        case let .invalidMetadata(key, reason): return "metadata '\(key)': \(reason)"
        case let .duplicateTensor(name): return "tensor '\(name)' added twice"
        case let .wrongByteCount(tensor, expected, written):
            return "tensor '\(tensor)': producer wrote \(written) bytes, its type and shape need \(expected)"
        case let .alreadyFinished(path): return "\(path): the file is already finished"
        }
    }
}

/// A file opened for writing through a file descriptor, with a fixed-size buffer in front of it, so that
/// tensor data streams to disk without the whole file ever being in memory.
final class OutputFile {
    let path: String
    private var fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private var used = 0
    /// Bytes handed to `write` so far (buffered or not).
    private(set) var offset = 0
    /// Write-behind: every `dropInterval` bytes the data written so far is flushed to disk and dropped from
    /// the page cache, so that writing a file larger than memory keeps neither dirty nor cached pages
    /// (inside a memory cgroup, dirty pages count against the limit and cannot be reclaimed until written).
    var dropWrittenPages = false
    private let dropInterval = 64 << 20
    private var written = 0, dropped = 0

    init(path: String, bufferSize: Int = 1 << 20) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw WriterError.cannotCreate(path: path, reason: String(cString: strerror(errno))) }
        capacity = bufferSize
        buffer = .allocate(byteCount: bufferSize, alignment: 64)
    }

    deinit {
        if fd >= 0 { posixClose(fd) }
        buffer.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var src = bytes.baseAddress, bytes.count > 0 else { return }
        var left = bytes.count
        offset += left
        if used + left > capacity { try flush() }
        if left >= capacity { // large writes skip the buffer
            try writeAll(src, left)
            return
        }
        while left > 0 {
            let n = min(left, capacity - used)
            (buffer + used).copyMemory(from: src, byteCount: n)
            used += n
            src += n
            left -= n
            if used == capacity { try flush() }
        }
    }

    func write<T: FixedWidthInteger>(_ value: T) throws {
        try withUnsafeBytes(of: value.littleEndian) { try write($0) }
    }

    func write(zeros count: Int) throws {
        let zero = [UInt8](repeating: 0, count: min(max(count, 0), 4096))
        var left = count
        while left > 0 {
            let n = min(left, zero.count)
            try zero.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0 ..< n])) }
            left -= n
        }
    }

    func flush() throws {
        if used > 0 { try writeAll(UnsafeRawPointer(buffer), used) }
        used = 0
    }

    /// Flushes and closes; the file is complete once this returns.
    func close() throws {
        try flush()
        let result = posixClose(fd)
        let err = errno
        fd = -1
        guard result == 0 else { throw WriterError.ioFailed(path: path, reason: String(cString: strerror(err))) }
    }

    /// Closes without flushing and removes the file: used when writing failed half-way.
    func abandon() {
        if fd >= 0 { posixClose(fd) }
        fd = -1
        used = 0
        unlink(path)
    }

    private func writeAll(_ p: UnsafeRawPointer, _ count: Int) throws {
        var p = p, left = count
        while left > 0 {
            let n = posixWrite(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw WriterError.ioFailed(path: path, reason: String(cString: strerror(errno)))
            }
            p += n
            left -= n
            written += n
        }
        if dropWrittenPages, written - dropped >= dropInterval { dropWritten() }
    }

    /// Waits for the bytes written since the last call to reach the disk, then drops them from the page cache.
    private func dropWritten() {
        #if os(Linux)
        // fdatasync rather than sync_file_range (which Glibc's Swift module does not expose): only the pages
        // written since the last call are dirty, so it waits for those.
        if fdatasync(fd) == 0 {
            _ = posix_fadvise(fd, off_t(dropped), off_t(written - dropped), Int32(POSIX_FADV_DONTNEED))
        }
        #endif
        dropped = written
    }
}

// The POSIX calls under names that the methods above do not shadow.
@discardableResult
private func posixClose(_ fd: Int32) -> Int32 { close(fd) }
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// Where a tensor's producer writes its bytes. Counts them, so the writer can check the producer wrote
/// exactly what the tensor's type and shape need.
public final class TensorSink {
    let file: OutputFile
    public private(set) var bytesWritten = 0

    init(file: OutputFile) { self.file = file }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes)
        bytesWritten += bytes.count
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ data: Data) throws {
        try data.withUnsafeBytes { try write($0) }
    }

    /// Writes the elements' in-memory bytes (little-endian on every supported platform).
    public func write<T: BitwiseCopyable>(contentsOf values: [T]) throws {
        try values.withUnsafeBytes { try write($0) }
    }
}
