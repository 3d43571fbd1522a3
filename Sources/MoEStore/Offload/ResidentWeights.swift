#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MoEFormats
import MoEKernels

/// Copies of the non-expert weights in anonymous memory, read with pread: with experts offloaded, the
/// model file's mapping is then never read again (so a file truncated under the engine cannot fault it),
/// and the weights' memory is counted exactly rather than left to the page cache.
public final class ResidentWeights: @unchecked Sendable {
    private var readers: [String: ExpertFileReader] = [:]
    private var mappings: [ObjectIdentifier: MappedFile] = [:]
    /// Bytes copied so far.
    public private(set) var byteCount = 0

    public init() {}

    /// One aligned allocation, freed with its last matrix.
    final class Buffer: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        init(bytes: Int) { pointer = .allocate(byteCount: max(bytes, 1), alignment: 64) }
        deinit { pointer.deallocate() }
    }

    /// `m` copied into memory (unchanged if it is not a view into a mapped file).
    public func copy(_ m: WeightMatrix) throws -> WeightMatrix {
        guard let file = m.owner as? MappedFile, let base = file.base else { return m }
        let reader: ExpertFileReader
        if let r = readers[file.path] { reader = r } else {
            reader = try ExpertFileReader(paths: [file.path])
            readers[file.path] = reader
        }
        mappings[ObjectIdentifier(file)] = file
        let bytes = m.rows * m.rowBytes
        let buffer = Buffer(bytes: bytes)
        try reader.copy(file: 0, offset: m.base - base, count: bytes, into: buffer.pointer)
        byteCount += bytes
        return m.rebased(to: buffer.pointer, owner: buffer)
    }

    /// After the copies: drops the files' pages from this process's mappings (the header and small tensors
    /// were read through them while loading), then from the page cache. In this order: the kernel does not
    /// drop a cached page that a process still maps, and a memory cgroup charges such leftovers to the
    /// engine (≈ 100 MB on the qwen-sized model, which pushed an 8 GiB run into its cgroup's limit).
    public func releaseFilePages() {
        for f in mappings.values { f.advise(offset: 0, count: f.size, advice: MADV_DONTNEED) }
        for r in readers.values { r.dropPageCache() }
    }
}
