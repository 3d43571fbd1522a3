/// Reads a GGUF v2/v3 file: header, metadata of every value type, tensor infos, `general.alignment`.
/// Tensors are views into the mapping (zero-copy). Every offset and size is checked against the file.
public final class GGUFFile: @unchecked Sendable {
    public static let magic: UInt32 = 0x4655_4747 // "GGUF" little-endian
    public let file: MappedFile
    public var path: String { file.path }
    public let version: Int
    /// Metadata in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [TensorView]
    public let tensorIndex: [String: Int]
    public let alignment: Int
    /// Byte offset where the tensor data section begins.
    public let dataOffset: Int

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var r = ByteReader(file: file)
        guard file.size >= 4 else { throw FormatError.truncated(path: path, what: "header") }
        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw FormatError.badMagic(path: path, found: Self.describeMagic(magic))
        }
        let version = Int(try r.read(UInt32.self, "version"))
        guard version == 2 || version == 3 else { throw FormatError.unsupportedVersion(path: path, version: version) }
        self.version = version
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        // Each entry takes at least 8+1+... bytes: a count beyond the file size is corrupt.
        guard tensorCount <= UInt64(file.size / 8), kvCount <= UInt64(file.size / 8) else {
            throw FormatError.malformed(path: path, what: "implausible counts (\(tensorCount) tensors, \(kvCount) metadata entries)")
        }
        var keys: [String] = []
        var meta: [String: GGUFValue] = [:]
        for i in 0 ..< Int(kvCount) {
            let key = try Self.readString(&r, "metadata key \(i)")
            let rawType = try r.read(UInt32.self, "type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw FormatError.malformed(path: path, what: "metadata '\(key)' has unknown value type \(rawType)")
            }
            let value = try Self.readValue(&r, type: type, key: key, depth: 0)
            if meta[key] == nil { keys.append(key) }
            meta[key] = value
        }
        metadataKeys = keys
        metadata = meta
        var alignment = 32
        if let a = meta["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0 else {
                throw FormatError.malformed(path: path, what: "general.alignment must be a power of two")
            }
            alignment = v
        }
        self.alignment = alignment

        struct RawInfo { var name: String; var dims: [Int]; var type: TensorType; var offset: UInt64 }
        var infos: [RawInfo] = []
        infos.reserveCapacity(Int(tensorCount))
        for i in 0 ..< Int(tensorCount) {
            let name = try Self.readString(&r, "tensor \(i) name")
            let nDims = try r.read(UInt32.self, "dims of '\(name)'")
            guard nDims >= 1, nDims <= 4 else {
                throw FormatError.malformed(path: path, what: "tensor '\(name)' has \(nDims) dimensions")
            }
            var ne: [Int] = []
            for _ in 0 ..< nDims {
                let d = try r.read(UInt64.self, "shape of '\(name)'")
                guard d > 0, d < (1 << 40) else {
                    throw FormatError.malformed(path: path, what: "tensor '\(name)' has dimension \(d)")
                }
                ne.append(Int(d))
            }
            let rawType = try r.read(UInt32.self, "type of '\(name)'")
            guard let type = TensorType(rawValue: rawType) else {
                throw FormatError.unknownDType(path: path, tensor: name, dtype: "ggml type \(rawType)")
            }
            let off = try r.read(UInt64.self, "offset of '\(name)'")
            infos.append(RawInfo(name: name, dims: ne.reversed(), type: type, offset: off))
        }
        let dataStart = (r.offset + alignment - 1) / alignment * alignment
        dataOffset = dataStart
        var views: [TensorView] = []
        var index: [String: Int] = [:]
        for info in infos {
            let count = info.dims.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            guard info.dims.last! % info.type.blockSize == 0, let nbytes = info.type.byteCount(elements: count) else {
                throw FormatError.malformed(path: path, what: "tensor '\(info.name)' row length \(info.dims.last!) is not a multiple of the \(info.type) block size \(info.type.blockSize)")
            }
            guard info.offset % UInt64(alignment) == 0, info.offset < UInt64(Int.max / 2) else {
                throw FormatError.malformed(path: path, what: "tensor '\(info.name)' offset \(info.offset) is not aligned to \(alignment)")
            }
            let bytes = try file.bytes(at: dataStart + Int(info.offset), count: nbytes,
                                       what: "tensor '\(info.name)' (\(nbytes) bytes at offset \(dataStart + Int(info.offset)))")
            guard index[info.name] == nil else {
                throw FormatError.malformed(path: path, what: "tensor '\(info.name)' appears twice")
            }
            index[info.name] = views.count
            views.append(TensorView(name: info.name, type: info.type, shape: info.dims, bytes: bytes, file: file))
        }
        tensors = views
        tensorIndex = index
    }

    public func tensor(_ name: String) -> TensorView? {
        tensorIndex[name].map { tensors[$0] }
    }

    public var architecture: String? { metadata["general.architecture"]?.string }

    static func describeMagic(_ m: UInt32) -> String {
        let bytes = withUnsafeBytes(of: m.littleEndian) { Array($0) }
        let printable = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
        return printable ? "'\(String(decoding: bytes, as: UTF8.self))'" : bytes.map { String($0, radix: 16) }.joined(separator: " ")
    }

    static func readString(_ r: inout ByteReader, _ what: @autoclosure () -> String) throws -> String {
        let n = try r.read(UInt64.self, what())
        guard n <= UInt64(r.file.size) else { throw FormatError.truncated(path: r.file.path, what: what()) }
        let b = try r.readBytes(Int(n), what())
        return String(decoding: b, as: UTF8.self)
    }

    static func readValue(_ r: inout ByteReader, type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let w = "value of '\(key)'"
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self, w))
        case .int8: return .int8(try r.read(Int8.self, w))
        case .uint16: return .uint16(try r.read(UInt16.self, w))
        case .int16: return .int16(try r.read(Int16.self, w))
        case .uint32: return .uint32(try r.read(UInt32.self, w))
        case .int32: return .int32(try r.read(Int32.self, w))
        case .uint64: return .uint64(try r.read(UInt64.self, w))
        case .int64: return .int64(try r.read(Int64.self, w))
        case .float32: return .float32(try r.readFloat(w))
        case .float64: return .float64(try r.readDouble(w))
        case .bool:
            let b = try r.read(UInt8.self, w)
            guard b <= 1 else { throw FormatError.malformed(path: r.file.path, what: "'\(key)' has bool value \(b)") }
            return .bool(b == 1)
        case .string: return .string(try readString(&r, w))
        case .array:
            guard depth < 4 else { throw FormatError.malformed(path: r.file.path, what: "'\(key)' nests arrays too deeply") }
            let rawType = try r.read(UInt32.self, w)
            guard let et = GGUFValueType(rawValue: rawType) else {
                throw FormatError.malformed(path: r.file.path, what: "array '\(key)' has unknown element type \(rawType)")
            }
            let n = try r.read(UInt64.self, w)
            guard n <= UInt64(r.file.size - r.offset) else { throw FormatError.truncated(path: r.file.path, what: w) }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0 ..< Int(n) { items.append(try readValue(&r, type: et, key: key, depth: depth + 1)) }
            return .array(et, items)
        }
    }
}
