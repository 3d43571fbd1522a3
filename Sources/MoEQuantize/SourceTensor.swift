import Foundation
import MoEFormats
import MoEKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor of the output file as the input holds it: a canonical name, the output shape (outermost
/// first) and the byte ranges its rows come from — one range for an ordinary tensor, one per expert for a
/// stacked expert tensor made from a Hugging Face checkpoint's per-expert matrices.
public struct SourceTensor: Sendable {
    /// A run of whole rows in one input file.
    public struct Segment: Sendable {
        public let file: InputFile
        /// Byte offset of the first row in the file.
        public let offset: Int
        public let rows: Int
    }

    /// Output rows made by transposing the input in blocks: each run of `rows` input rows of `cols` values
    /// becomes `cols` output rows of `rows` values. MLA's `attn_k_b` is made so from each head's key rows of
    /// HF `kv_b_proj` (llama.cpp's converter stores k_bᵀ per head, the form its absorbed attention multiplies).
    public struct Transpose: Sendable, Equatable {
        public let rows: Int
        public let cols: Int
    }

    public let name: String
    public let shape: [Int]
    /// The stored type of every segment (F32, F16 or BF16; any dequantizable type for `--companion-only`).
    public let type: TensorType
    /// The input rows, in order; with `transpose`, rows of `transpose.cols` values, else of `rowLength`.
    public let segments: [Segment]
    public var transpose: Transpose? = nil

    public var rowLength: Int { shape.last ?? 1 }
    public var rowCount: Int { shape.dropLast().reduce(1, *) }
    public var elementCount: Int { shape.reduce(1, *) }
    /// Bytes of one output row as the input stores it.
    public var rowBytes: Int { rowLength / type.blockSize * type.blockBytes }
    public var byteCount: Int { rowCount * rowBytes }
    /// Bytes of one input row (differs from `rowBytes` only when transposed).
    var sourceRowBytes: Int { (transpose?.cols ?? rowLength) / type.blockSize * type.blockBytes }

    /// The same tensor under another name (GLM-4.5's `post_attention_norm`) or shape of the same row-major
    /// values (a `[1, n]` bias stored as `[n]`).
    func renamed(_ newName: String, shape newShape: [Int]? = nil) -> SourceTensor {
        SourceTensor(name: newName, shape: newShape ?? shape, type: type, segments: segments, transpose: transpose)
    }

    /// The same tensor with each head's rows reordered as llama.cpp's converter does for `llama` models
    /// (`permute` in convert_hf_to_gguf.py): within a head of `d` rows, output row 2i + j is input row
    /// j · d/2 + i, so that rotate-half pairs (i, i + d/2) become adjacent pairs (2i, 2i + 1).
    func permutingRowsForInterleavedRotary(heads: Int) -> SourceTensor {
        precondition(segments.count == 1 && shape.count == 2 && heads > 0 && shape[0] % (2 * heads) == 0)
        let s = segments[0], d = shape[0] / heads
        var rows: [Segment] = []
        rows.reserveCapacity(shape[0])
        for h in 0 ..< heads {
            for i in 0 ..< d / 2 {
                for j in 0 ..< 2 {
                    let source = h * d + j * (d / 2) + i
                    rows.append(Segment(file: s.file, offset: s.offset + source * rowBytes, rows: 1))
                }
            }
        }
        return SourceTensor(name: name, shape: shape, type: type, segments: rows)
    }

    /// Reads rows `rows` (of the whole tensor, across segments) widened to float32 into `out`
    /// (`rows.count × rowLength` floats), through `scratch` (at least `rows.count × rowBytes` bytes).
    /// Reads with pread: a file that shrinks or fails mid-way is an error, never a fault on a mapping.
    public func readRows(_ rows: Range<Int>, into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) throws {
        guard let t = transpose else { return try readSourceRows(rows, into: out, scratch: scratch) }
        // Whole input blocks are read (one block is `t.cols` output rows) and the wanted output rows taken
        // from them. Blocks are small (one head's key rows of kv_b_proj) and the tensor is read once.
        let blockFloats = UnsafeMutablePointer<Float>.allocate(capacity: t.rows * t.cols)
        let blockBytes = UnsafeMutableRawPointer.allocate(byteCount: t.rows * sourceRowBytes, alignment: 64)
        defer { blockFloats.deallocate(); blockBytes.deallocate() }
        var row = rows.lowerBound
        while row < rows.upperBound {
            let block = row / t.cols
            let end = min(rows.upperBound, (block + 1) * t.cols)
            try readSourceRows(block * t.rows ..< (block + 1) * t.rows, into: blockFloats, scratch: blockBytes)
            for r in row ..< end {
                let c = r - block * t.cols, dst = out + (r - rows.lowerBound) * t.rows
                for i in 0 ..< t.rows { dst[i] = blockFloats[i * t.cols + c] }
            }
            row = end
        }
    }

    /// Input rows `rows` (across segments) widened to float32.
    private func readSourceRows(_ rows: Range<Int>, into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) throws {
        let rowBytes = sourceRowBytes
        var row = rows.lowerBound, segmentStart = 0
        for s in segments {
            let segmentEnd = segmentStart + s.rows
            defer { segmentStart = segmentEnd }
            guard row < rows.upperBound, row < segmentEnd else { continue }
            let end = min(rows.upperBound, segmentEnd)
            let bytes = (end - row) * rowBytes
            let dst = scratch + (row - rows.lowerBound) * rowBytes
            try s.file.read(into: dst, count: bytes, at: s.offset + (row - segmentStart) * rowBytes, tensor: name)
            row = end
        }
        let n = rows.count * (transpose?.cols ?? rowLength)
        Dequantize.row(type: type, src: UnsafeRawPointer(scratch), dst: out, count: n)
    }
}

/// An input file opened for pread, with its size and modification time at opening, so that a file that
/// changes while it is being read is noticed (`checkUnchanged`) instead of producing a corrupt output.
public final class InputFile: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let size: Int
    private let modified: timespec

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw QuantizeError.input(path: path, reason: String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QuantizeError.input(path: path, reason: String(cString: strerror(errno))) }
        size = Int(st.st_size)
        modified = st.st_mtim
    }

    deinit { close(fd) }

    func read(into dst: UnsafeMutableRawPointer, count: Int, at offset: Int, tensor: String) throws {
        var done = 0
        while done < count {
            let n = pread(fd, dst + done, count - done, off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let why = n < 0 ? String(cString: strerror(errno)) : "the file ended early"
                throw QuantizeError.inputChanged(path: path, reason: "reading tensor '\(tensor)' at byte \(offset + done): \(why)")
            }
            done += n
        }
    }

    /// Throws if the file's size or modification time differ from when it was opened.
    public func checkUnchanged() throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw QuantizeError.inputChanged(path: path, reason: String(cString: strerror(errno))) }
        guard Int(st.st_size) == size, st.st_mtim.tv_sec == modified.tv_sec, st.st_mtim.tv_nsec == modified.tv_nsec else {
            throw QuantizeError.inputChanged(path: path, reason: "it was modified while being read")
        }
    }

    /// Tells the kernel the bytes read are no longer needed, so quantizing a checkpoint larger than memory
    /// does not push everything else out of the page cache.
    func dropFromCache(offset: Int, count: Int) {
        #if os(Linux)
        _ = posix_fadvise(fd, off_t(offset), off_t(count), Int32(POSIX_FADV_DONTNEED))
        #endif
    }
}

/// What can stop a quantization; each prints as one line.
public enum QuantizeError: Error, CustomStringConvertible, Equatable, Sendable {
    case input(path: String, reason: String)
    case inputChanged(path: String, reason: String)
    case unsupported(path: String, reason: String)
    case missingTensor(path: String, name: String)
    case badShape(path: String, tensor: String, reason: String)
    case output(path: String, reason: String)
    case calibration(path: String, reason: String)
    case interrupted

    public var description: String {
        switch self {
        case let .input(path, reason): return "\(path): \(reason)"
        case let .inputChanged(path, reason): return "\(path): input changed while being read: \(reason)"
        case let .unsupported(path, reason): return "\(path): \(reason)"
        case let .missingTensor(path, name): return "\(path): missing tensor '\(name)'"
        case let .badShape(path, tensor, reason): return "\(path): tensor '\(tensor)': \(reason)"
        case let .output(path, reason): return "\(path): \(reason)"
        case let .calibration(path, reason): return "calibration \(path): \(reason)"
        case .interrupted: return "interrupted"
        }
    }
}
