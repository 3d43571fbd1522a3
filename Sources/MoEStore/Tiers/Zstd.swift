import CZstd

/// A failed zstd call, with zstd's own error name (`ZSTD_getErrorName`), or a size that is not the expected one.
public enum ZstdError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Compression failed (e.g. "Destination buffer is too small" when `dst` is below `Zstd.compressBound`).
    case compress(name: String)
    /// Decompression failed: corrupt or truncated input, checksum mismatch, output larger than `dst`...
    case decompress(name: String)
    /// The frame declares, or decompressed to, `actual` bytes where the destination holds `expected`.
    case sizeMismatch(expected: Int, actual: Int)
    /// `ZSTD_createCCtx` / `ZSTD_createDCtx` returned NULL (out of memory).
    case noContext

    public var description: String {
        switch self {
        case let .compress(name): "zstd compression failed: \(name)"
        case let .decompress(name): "zstd decompression failed: \(name)"
        case let .sizeMismatch(expected, actual): "zstd frame holds \(actual) bytes, expected \(expected)"
        case .noContext: "zstd context allocation failed"
        }
    }
}

/// One-shot zstd on caller buffers. Each call creates and frees its contexts; threads that compress or
/// decompress repeatedly keep a `ZstdContext` instead (one per thread).
public enum Zstd {
    /// Worst-case compressed size (bytes) of `n` raw bytes: a `dst` this large never makes `compress` fail.
    public static func compressBound(_ n: Int) -> Int {
        precondition(n >= 0, "Zstd.compressBound: negative size \(n)")
        return ZSTD_compressBound(n)
    }

    /// Compresses `src` into one frame at the start of `dst`; returns the frame's size in bytes.
    public static func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, level: Int32) throws -> Int {
        try ZstdContext().compress(src, into: dst, level: level)
    }

    /// Decompresses the frame `src` into `dst`, which it must fill exactly; returns `dst.count`.
    public static func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        try ZstdContext().decompress(src, into: dst)
    }
}

/// Reusable zstd contexts (allocated on first use; a level-3 compression context is a few MB, a
/// decompression context ~100 KB). Not thread-safe and not Sendable: one per thread.
///
/// Frames carry their content size and a 32-bit content checksum (4 bytes per frame): without it a
/// corrupted byte inside a stored (incompressible) block decodes silently to wrong weights.
public final class ZstdContext {
    private var cctx: OpaquePointer?
    private var dctx: OpaquePointer?

    public init() {}

    deinit {
        ZSTD_freeCCtx(cctx) // both accept NULL
        ZSTD_freeDCtx(dctx)
    }

    /// Compresses `src` into one frame at the start of `dst`; returns the frame's size in bytes. `level` is
    /// clamped by zstd to its range (negative: faster, 1...19: slower and smaller; 3 is zstd's default).
    public func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, level: Int32) throws -> Int {
        if cctx == nil {
            guard let c = ZSTD_createCCtx() else { throw ZstdError.noContext }
            cctx = c
        }
        // A session left half-done by an earlier failure would refuse parameters: reset it first.
        try check(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only), ZstdError.compress)
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), ZstdError.compress)
        try check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level), ZstdError.compress)
        return try check(ZSTD_compress2(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count), ZstdError.compress)
    }

    /// Decompresses the frame `src` into `dst`; returns `dst.count`. Throws unless the frame holds exactly
    /// `dst.count` bytes, and on corrupt or truncated input (zstd validates every input; no crash).
    public func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws -> Int {
        if dctx == nil {
            guard let d = ZSTD_createDCtx() else { throw ZstdError.noContext }
            dctx = d
        }
        // A frame declaring another size fails before writing to dst. UInt64.max and UInt64.max - 1 are
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR: then zstd's own checks below decide.
        let declared = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if declared < UInt64.max - 1, declared != UInt64(dst.count) {
            throw ZstdError.sizeMismatch(expected: dst.count, actual: Int(clamping: declared))
        }
        let n = try check(ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count), ZstdError.decompress)
        guard n == dst.count else { throw ZstdError.sizeMismatch(expected: dst.count, actual: n) }
        return n
    }

    /// `code` as a size, or the zstd error it encodes.
    @discardableResult
    private func check(_ code: Int, _ error: (String) -> ZstdError) throws -> Int {
        if ZSTD_isError(code) != 0 { throw error(String(cString: ZSTD_getErrorName(code))) }
        return code
    }
}

/// Contexts hold per-call state: never shared between threads.
@available(*, unavailable)
extension ZstdContext: Sendable {}
