import Foundation

/// Writes one `.safetensors` file: an 8-byte little-endian header length, the JSON header padded with
/// spaces so that the data starts on a multiple of 8 (as the reference implementation pads it), then the
/// tensors' bytes back to back in the order they were added. Types: F32, F16, BF16.
///
/// As with `GGUFWriter`, tensors are declared first and written by `finish()`; a tensor's bytes may come from
/// a closure, so the data streams to disk.
public final class SafetensorsWriter {
    public typealias Producer = (TensorSink) throws -> Void

    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let type: TensorType
        public let shape: [Int]
        public let byteCount: Int
    }

    private enum Source {
        case data(Data)
        case producer(Producer)
    }

    public let path: String
    /// Free-form string pairs stored under `__metadata__` (e.g. `["format": "pt"]`).
    public var metadata: [String: String]
    public private(set) var tensors: [TensorInfo] = []
    private var sources: [Source] = []
    private var names: Set<String> = []
    private var finished = false

    public init(path: String, metadata: [String: String] = [:]) {
        self.path = path
        self.metadata = metadata
    }

    public static func dtypeName(_ type: TensorType) -> String? {
        switch type {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .i8: return "U8"
        default: return nil
        }
    }

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

    /// Adds a tensor whose bytes `producer` writes when `finish()` reaches it.
    public func addTensor(name: String, type: TensorType, shape: [Int], producer: @escaping Producer) throws {
        append(try makeInfo(name: name, type: type, shape: shape), .producer(producer))
    }

    private func append(_ info: TensorInfo, _ source: Source) {
        tensors.append(info)
        sources.append(source)
        names.insert(info.name)
    }

    private func makeInfo(name: String, type: TensorType, shape: [Int]) throws -> TensorInfo {
        guard !finished else { throw WriterError.alreadyFinished(path: path) }
        guard !name.isEmpty, name != "__metadata__" else {
            throw WriterError.invalidTensor(name: name, reason: "is not a usable tensor name")
        }
        guard !names.contains(name) else { throw WriterError.duplicateTensor(name: name) }
        guard Self.dtypeName(type) != nil else {
            throw WriterError.invalidTensor(name: name, reason: "type \(type) cannot be stored in safetensors here (F32, F16, BF16 only)")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw WriterError.invalidTensor(name: name, reason: "shape \(shape) has a negative dimension")
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p < Int.max / 8 else { throw WriterError.invalidTensor(name: name, reason: "shape \(shape) is too large") }
            count = p
        }
        return TensorInfo(name: name, type: type, shape: shape, byteCount: count * type.blockBytes)
    }

    /// The JSON header, padded with spaces to make `8 + header.count` a multiple of 8.
    public func header() throws -> Data {
        var object: [String: Any] = [:]
        if !metadata.isEmpty { object["__metadata__"] = metadata }
        var offset = 0
        for t in tensors {
            object[t.name] = ["dtype": Self.dtypeName(t.type)!, "shape": t.shape, "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        return json
    }

    /// Creates the file and writes the header and every tensor's data. On failure the partial file is removed.
    public func finish() throws {
        guard !finished else { throw WriterError.alreadyFinished(path: path) }
        let head = try header()
        finished = true
        let out = try OutputFile(path: path)
        do {
            try out.write(UInt64(head.count))
            try head.withUnsafeBytes { try out.write($0) }
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
                sources[i] = .data(Data())
            }
            try out.close()
        } catch {
            out.abandon()
            throw error
        }
        sources = []
    }
}
