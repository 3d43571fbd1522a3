import Foundation

/// Writes a GGUF v3 file: header, metadata of every value type (arrays included), tensor infos, then the
/// tensor data, each tensor starting on a multiple of the alignment (`general.alignment`, default 32) and
/// padded with zeros to one.
///
/// Metadata and tensors are declared first; nothing is written until `finish()`. Tensor data is either given
/// as bytes or produced by a closure that `finish()` calls in order, streaming into a buffered file, so a
/// quantizer can write a file far larger than memory. Shapes are outermost-first, as `TensorView` has them
/// (a weight `[rows, cols]`); the file stores them reversed (ggml's `ne`, innermost first).
///
///     let w = try GGUFWriter(path: out)
///     try w.setMetadata("general.architecture", .string("qwen3moe"))
///     try w.addTensor(name: "token_embd.weight", type: .f16, shape: [vocab, hidden], data: bytes)
///     try w.addTensor(name: "blk.0.ffn_up_exps.weight", type: .q4_K, shape: [e, ffn, hidden]) { sink in
///         for expert in 0 ..< e { try sink.write(quantize(expert)) }
///     }
///     try w.finish()
public final class GGUFWriter {
    /// Writes a tensor's bytes, exactly `byteCount(type, shape)` of them, into the sink.
    public typealias Producer = (TensorSink) throws -> Void

    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let type: TensorType
        /// Outermost first.
        public let shape: [Int]
        public let byteCount: Int
    }

    private enum Source {
        case data(Data)
        case producer(Producer)
    }

    public let path: String
    public static let version: UInt32 = 3
    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_NAME: a name must fit in 64 bytes with its terminating NUL.
    public static let maxNameBytes = 63

    public private(set) var metadataKeys: [String] = []
    private var metadata: [String: GGUFValue] = [:]
    public private(set) var tensors: [TensorInfo] = []
    private var sources: [Source] = []
    private var tensorNames: Set<String> = []
    private var finished = false
    /// Flush what is written to disk and drop it from the page cache every 64 MiB (see `OutputFile`), for
    /// files larger than the memory the writer may use.
    public var dropWrittenPages = false

    /// Declares a file at `path` (created by `finish()`). A non-nil `alignment` is recorded as `general.alignment`.
    public init(path: String, alignment: Int? = nil) throws {
        self.path = path
        if let alignment {
            guard alignment > 0, alignment <= Int(UInt32.max) else {
                throw WriterError.invalidMetadata(key: "general.alignment", reason: "must be a power of two, not \(alignment)")
            }
            try setMetadata("general.alignment", .uint32(UInt32(alignment)))
        }
    }

    /// The alignment of the data section and of every tensor in it.
    public var alignment: Int { metadata["general.alignment"]?.int ?? Self.defaultAlignment }

    public func metadataValue(_ key: String) -> GGUFValue? { metadata[key] }

    /// Sets a metadata value. Keys keep the order they were first set in; setting a key again replaces its value.
    /// Arrays must hold elements of their declared type only (nested arrays are allowed).
    public func setMetadata(_ key: String, _ value: GGUFValue) throws {
        guard !finished else { throw WriterError.alreadyFinished(path: path) }
        guard !key.isEmpty else { throw WriterError.invalidMetadata(key: key, reason: "empty key") }
        try Self.check(value, key: key, depth: 0)
        if key == "general.alignment" {
            // llama.cpp requires this one to be a uint32.
            guard case let .uint32(a) = value, a > 0, a & (a - 1) == 0 else {
                throw WriterError.invalidMetadata(key: key, reason: "must be a uint32 power of two")
            }
        }
        if metadata[key] == nil { metadataKeys.append(key) }
        metadata[key] = value
    }

    private static func check(_ value: GGUFValue, key: String, depth: Int) throws {
        guard case let .array(elementType, items) = value else { return }
        guard depth < 4 else { throw WriterError.invalidMetadata(key: key, reason: "arrays nest more than 4 deep") }
        for item in items {
            guard item.type == elementType else {
                throw WriterError.invalidMetadata(key: key, reason: "array of \(elementType) holds a \(item.type)")
            }
            try check(item, key: key, depth: depth + 1)
        }
    }

    /// Adds a tensor whose bytes are given: exactly what `type` and `shape` need.
    public func addTensor(name: String, type: TensorType, shape: [Int], data: Data) throws {
        let info = try makeInfo(name: name, type: type, shape: shape)
        guard data.count == info.byteCount else {
            throw WriterError.wrongByteCount(tensor: name, expected: info.byteCount, written: data.count)
        }
        append(info, .data(data))
    }

    public func addTensor(name: String, type: TensorType, shape: [Int], bytes: [UInt8]) throws {
        try addTensor(name: name, type: type, shape: shape, data: Data(bytes))
    }

    /// Adds a tensor whose bytes `producer` writes when `finish()` reaches it (tensors are written in the
    /// order they were added). The producer must write exactly the tensor's byte count.
    public func addTensor(name: String, type: TensorType, shape: [Int], producer: @escaping Producer) throws {
        append(try makeInfo(name: name, type: type, shape: shape), .producer(producer))
    }

    private func append(_ info: TensorInfo, _ source: Source) {
        tensors.append(info)
        sources.append(source)
        tensorNames.insert(info.name)
    }

    private func makeInfo(name: String, type: TensorType, shape: [Int]) throws -> TensorInfo {
        guard !finished else { throw WriterError.alreadyFinished(path: path) }
        guard !name.isEmpty, name.utf8.count <= Self.maxNameBytes else {
            throw WriterError.invalidTensor(name: name, reason: "name must be 1 to \(Self.maxNameBytes) bytes")
        }
        guard !tensorNames.contains(name) else { throw WriterError.duplicateTensor(name: name) }
        guard (1 ... 4).contains(shape.count) else {
            throw WriterError.invalidTensor(name: name, reason: "has \(shape.count) dimensions (GGUF allows 1 to 4)")
        }
        guard shape.allSatisfy({ $0 > 0 && $0 < 1 << 40 }) else {
            throw WriterError.invalidTensor(name: name, reason: "shape \(shape) has a zero, negative or huge dimension")
        }
        guard shape.last! % type.blockSize == 0 else {
            throw WriterError.invalidTensor(name: name, reason: "row length \(shape.last!) is not a multiple of the \(type) block size \(type.blockSize)")
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw WriterError.invalidTensor(name: name, reason: "shape \(shape) is too large") }
            count = p
        }
        guard let bytes = type.byteCount(elements: count), bytes < Int.max / 2 else {
            throw WriterError.invalidTensor(name: name, reason: "shape \(shape) is too large")
        }
        return TensorInfo(name: name, type: type, shape: shape, byteCount: bytes)
    }

    /// Offsets of every tensor from the start of the data section, in the order added.
    public var tensorOffsets: [Int] {
        var offsets: [Int] = []
        var next = 0
        for t in tensors {
            offsets.append(next)
            next += Self.padded(t.byteCount, alignment)
        }
        return offsets
    }

    static func padded(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Creates the file and writes everything: header, metadata, tensor infos, padding, then each tensor's
    /// data padded to the alignment. On failure the partial file is removed.
    public func finish() throws {
        guard !finished else { throw WriterError.alreadyFinished(path: path) }
        finished = true
        let out = try OutputFile(path: path)
        out.dropWrittenPages = dropWrittenPages
        do {
            try writeAll(to: out)
            try out.close()
        } catch {
            out.abandon()
            throw error
        }
        sources = [] // let go of the tensors' bytes and producers
    }

    private func writeAll(to out: OutputFile) throws {
        let align = alignment
        try out.write(GGUFFile.magic)
        try out.write(Self.version)
        try out.write(UInt64(tensors.count))
        try out.write(UInt64(metadataKeys.count))
        for key in metadataKeys {
            let value = metadata[key]!
            try writeString(key, out)
            try out.write(value.type.rawValue)
            try writeValue(value, out)
        }
        for (info, offset) in zip(tensors, tensorOffsets) {
            try writeString(info.name, out)
            try out.write(UInt32(info.shape.count))
            for d in info.shape.reversed() { try out.write(UInt64(d)) }
            try out.write(info.type.rawValue)
            try out.write(UInt64(offset))
        }
        try out.write(zeros: Self.padded(out.offset, align) - out.offset)
        let dataStart = out.offset
        for (i, info) in tensors.enumerated() {
            switch sources[i] {
            case let .data(d):
                try d.withUnsafeBytes { try out.write($0) }
            case let .producer(produce):
                let sink = TensorSink(file: out)
                try produce(sink)
                guard sink.bytesWritten == info.byteCount else {
                    throw WriterError.wrongByteCount(tensor: info.name, expected: info.byteCount, written: sink.bytesWritten)
                }
            }
            sources[i] = .data(Data()) // done with it
            let end = out.offset - dataStart
            try out.write(zeros: Self.padded(end, align) - end)
        }
    }

    private func writeString(_ s: String, _ out: OutputFile) throws {
        let bytes = Array(s.utf8)
        try out.write(UInt64(bytes.count))
        try bytes.withUnsafeBytes { try out.write($0) }
    }

    private func writeValue(_ value: GGUFValue, _ out: OutputFile) throws {
        switch value {
        case let .uint8(v): try out.write(v)
        case let .int8(v): try out.write(v)
        case let .uint16(v): try out.write(v)
        case let .int16(v): try out.write(v)
        case let .uint32(v): try out.write(v)
        case let .int32(v): try out.write(v)
        case let .uint64(v): try out.write(v)
        case let .int64(v): try out.write(v)
        case let .float32(v): try out.write(v.bitPattern)
        case let .float64(v): try out.write(v.bitPattern)
        case let .bool(v): try out.write(UInt8(v ? 1 : 0))
        case let .string(s): try writeString(s, out)
        case let .array(elementType, items):
            try out.write(elementType.rawValue)
            try out.write(UInt64(items.count))
            for item in items { try writeValue(item, out) }
        }
    }
}
