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

    /// Limits on what a header may claim. No real file comes near them; a corrupt count or length that passes
    /// the checks against the file's size could otherwise still drive an allocation of gigabytes.
    public static let maxStringBytes = 1 << 26        // 64 MiB: the longest real strings (chat templates) are KiBs
    public static let maxMetadataValues = 1 << 24     // all array elements together; real files hold ~1 M
    public static let maxArrayDepth = 4

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var r = ByteReader(file: file)
        guard file.size >= 4 else { throw FormatError.truncated(path: path, what: "\(file.size) bytes, not even a magic number") }
        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw FormatError.badMagic(path: path, found: Self.describeMagic(magic))
        }
        let version = Int(try r.read(UInt32.self, "version"))
        guard version == 2 || version == 3 else { throw FormatError.unsupportedVersion(path: path, version: version) }
        self.version = version
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        // The smallest metadata entry takes 13 bytes (key length, type, a one-byte value) and the smallest tensor
        // info 32 (name length, dimension count, one dimension, type, offset): counts that the rest of the file
        // cannot hold are corrupt, and refusing them here bounds every loop and allocation below.
        let rest = UInt64(r.remaining)
        guard kvCount <= rest / 13, tensorCount <= rest / 32, kvCount * 13 + tensorCount * 32 <= rest else {
            // Counts a real model has mean the file was cut short; others mean the counts themselves are corrupt.
            let what = "header claims \(tensorCount) tensors and \(kvCount) metadata entries, more than its \(file.size) bytes can hold"
            let plausible = tensorCount <= 1 << 20 && kvCount <= 1 << 20
            throw plausible ? FormatError.truncated(path: path, what: what) : FormatError.malformed(path: path, what: what)
        }
        var keys: [String] = []
        var meta: [String: GGUFValue] = [:]
        var budget = Self.maxMetadataValues
        for i in 0 ..< Int(kvCount) {
            let key = try Self.readString(&r, "metadata key \(i)")
            let rawType = try r.read(UInt32.self, "type of \(FormatError.quote(key))")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw FormatError.malformed(path: path, what: "metadata \(FormatError.quote(key)) has unknown value type \(rawType)")
            }
            let value = try Self.readValue(&r, type: type, key: key, depth: 0, budget: &budget)
            if meta[key] == nil { keys.append(key) }
            meta[key] = value
        }
        metadataKeys = keys
        metadata = meta
        var alignment = 32
        if let a = meta["general.alignment"] {
            // llama.cpp writes a uint32; any integer type is accepted, but only a power of two up to 2^30.
            guard a.bool == nil, let v = a.int, v > 0, v <= 1 << 30, v & (v - 1) == 0 else {
                throw FormatError.malformed(path: path, what: "general.alignment must be a power of two up to 2^30 (found \(a.int.map(String.init) ?? "a \(a.type)"))")
            }
            alignment = v
        }
        self.alignment = alignment

        struct RawInfo { var name: String; var dims: [Int]; var type: TensorType; var offset: UInt64 }
        var infos: [RawInfo] = []
        infos.reserveCapacity(min(Int(tensorCount), 1 << 16))   // the count is not trusted with a big reservation
        for i in 0 ..< Int(tensorCount) {
            let name = try Self.readString(&r, "tensor \(i) name")
            let quoted = FormatError.quote(name)
            let nDims = try r.read(UInt32.self, "dimension count of \(quoted)")
            guard nDims >= 1, nDims <= 4 else {
                throw FormatError.malformed(path: path, what: "tensor \(quoted) has \(nDims) dimensions (1 to 4 allowed)")
            }
            var ne: [Int] = []
            var elements = 1
            for _ in 0 ..< nDims {
                let d = try r.read(UInt64.self, "shape of \(quoted)")
                guard d > 0, let n = Int(exactly: d) else {
                    throw FormatError.malformed(path: path, what: "tensor \(quoted) has dimension \(d)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow else {
                    throw FormatError.malformed(path: path, what: "tensor \(quoted) has impossibly many elements (dimension \(d))")
                }
                elements = product
                ne.append(n)
            }
            let rawType = try r.read(UInt32.self, "type of \(quoted)")
            guard let type = TensorType(rawValue: rawType) else {
                throw FormatError.unknownDType(path: path, tensor: name, dtype: "ggml type \(rawType)")
            }
            let off = try r.read(UInt64.self, "offset of \(quoted)")
            infos.append(RawInfo(name: name, dims: ne.reversed(), type: type, offset: off))
        }
        // r.offset ≤ file size and alignment ≤ 2^30: no overflow.
        let dataStart = (r.offset + alignment - 1) / alignment * alignment
        dataOffset = dataStart
        var views: [TensorView] = []
        var index: [String: Int] = [:]
        for info in infos {
            guard index[info.name] == nil else {
                throw FormatError.malformed(path: path, what: "tensor \(FormatError.quote(info.name)) appears twice")
            }
            let bytes = try Self.locate(info.name, type: info.type, dims: info.dims, offset: info.offset,
                                        dataStart: dataStart, alignment: alignment, in: file)
            index[info.name] = views.count
            views.append(TensorView(name: info.name, type: info.type, shape: info.dims, bytes: bytes, file: file))
        }
        try Self.checkNoOverlap(views, path: path)
        tensors = views
        tensorIndex = index
    }

    /// A tensor's bytes: its size from type and shape (rows of whole blocks), its offset aligned and relative
    /// to the data section, and all of it inside the file. `dims` is outermost first (the row length last).
    static func locate(_ name: String, type: TensorType, dims: [Int], offset: UInt64, dataStart: Int, alignment: Int,
                       in file: MappedFile) throws -> UnsafeRawBufferPointer {
        let path = file.path, quoted = FormatError.quote(name)
        let row = dims.last ?? 1
        guard row % type.blockSize == 0 else {
            throw FormatError.malformed(path: path, what: "tensor \(quoted) row length \(row) is not a multiple of the \(type) block size \(type.blockSize)")
        }
        // The element count was checked for overflow when the dimensions were read.
        guard let nbytes = type.byteCount(elements: dims.reduce(1, *)) else {
            throw FormatError.malformed(path: path, what: "tensor \(quoted) is impossibly large")
        }
        guard offset % UInt64(alignment) == 0 else {
            throw FormatError.malformed(path: path, what: "tensor \(quoted) offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        guard let relative = Int(exactly: offset), case let (start, false) = dataStart.addingReportingOverflow(relative),
              start <= file.size else {
            throw FormatError.outOfBounds(path: path, what: "tensor \(quoted) data at offset \(offset) (of the data section, which starts at byte \(dataStart) of \(file.size))")
        }
        guard nbytes <= file.size - start else {
            let end = UInt64(start) + UInt64(nbytes)   // both below 2^63: no overflow
            throw FormatError.truncated(path: path, what: "tensor \(quoted) data ends at byte \(end), past the end of the file (\(file.size) bytes)")
        }
        return try file.bytes(at: start, count: nbytes, what: "tensor \(quoted)")
    }

    /// Two tensors must not share bytes: writing one would change the other, and llama.cpp refuses such files.
    static func checkNoOverlap(_ views: [TensorView], path: String) throws {
        let spans = views.compactMap { v in v.bytes.baseAddress.map { (start: $0, end: $0 + v.bytes.count, name: v.name) } }
            .sorted { $0.start < $1.start }
        for (a, b) in zip(spans, spans.dropFirst()) where b.start < a.end {
            throw FormatError.malformed(path: path, what: "tensors \(FormatError.quote(a.name)) and \(FormatError.quote(b.name)) overlap")
        }
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

    /// A GGUF string: u64 length, then that many bytes of UTF-8 (checked: a repaired string would silently
    /// differ from what the file says, e.g. a token that then never matches).
    static func readString(_ r: inout ByteReader, _ what: @autoclosure () -> String) throws -> String {
        let n = try r.read(UInt64.self, what())
        guard n <= UInt64(r.remaining) else {
            throw FormatError.truncated(path: r.file.path, what: "\(what()) claims \(n) bytes, past the end of the file (\(r.file.size) bytes)")
        }
        guard n <= UInt64(maxStringBytes) else {
            throw FormatError.malformed(path: r.file.path, what: "\(what()) claims \(n) bytes (at most \(maxStringBytes) allowed)")
        }
        let b = try r.readBytes(Int(n), what())
        let s = String(decoding: b, as: UTF8.self)
        // Decoding replaces invalid sequences with U+FFFD, which changes the bytes.
        guard s.utf8.elementsEqual(b) else {
            throw FormatError.malformed(path: r.file.path, what: "\(what()) is not valid UTF-8")
        }
        return s
    }

    /// Fewest bytes one value of `type` takes in the file: bounds an array's claimed length by the bytes left.
    static func minimumBytes(_ type: GGUFValueType) -> Int {
        switch type {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }

    static func readValue(_ r: inout ByteReader, type: GGUFValueType, key: String, depth: Int, budget: inout Int) throws -> GGUFValue {
        let path = r.file.path
        // Only an error message needs this text: built on demand, not once per array element (a vocabulary
        // of 32k tokens spent most of its load time quoting the key).
        func w() -> String { "value of \(FormatError.quote(key))" }
        switch type {
        case .uint8: return .uint8(try r.read(UInt8.self, w()))
        case .int8: return .int8(try r.read(Int8.self, w()))
        case .uint16: return .uint16(try r.read(UInt16.self, w()))
        case .int16: return .int16(try r.read(Int16.self, w()))
        case .uint32: return .uint32(try r.read(UInt32.self, w()))
        case .int32: return .int32(try r.read(Int32.self, w()))
        case .uint64: return .uint64(try r.read(UInt64.self, w()))
        case .int64: return .int64(try r.read(Int64.self, w()))
        case .float32: return .float32(try r.readFloat(w()))
        case .float64: return .float64(try r.readDouble(w()))
        case .bool:
            let b = try r.read(UInt8.self, w())
            guard b <= 1 else { throw FormatError.malformed(path: path, what: "\(FormatError.quote(key)) has bool value \(b)") }
            return .bool(b == 1)
        case .string: return .string(try readString(&r, w()))
        case .array:
            guard depth < maxArrayDepth else {
                throw FormatError.malformed(path: path, what: "\(FormatError.quote(key)) nests arrays more than \(maxArrayDepth) deep")
            }
            let rawType = try r.read(UInt32.self, w())
            guard let et = GGUFValueType(rawValue: rawType) else {
                throw FormatError.malformed(path: path, what: "array \(FormatError.quote(key)) has unknown element type \(rawType)")
            }
            let n = try r.read(UInt64.self, w())
            guard n <= UInt64(r.remaining / minimumBytes(et)) else {
                throw FormatError.truncated(path: path, what: "array \(FormatError.quote(key)) claims \(n) elements, more than the \(r.remaining) bytes left can hold")
            }
            guard n <= UInt64(budget) else {
                throw FormatError.malformed(path: path, what: "array \(FormatError.quote(key)) claims \(n) elements; metadata may hold at most \(maxMetadataValues) values")
            }
            budget -= Int(n)
            var items: [GGUFValue] = []
            items.reserveCapacity(min(Int(n), 1 << 20))
            for _ in 0 ..< Int(n) { items.append(try readValue(&r, type: et, key: key, depth: depth + 1, budget: &budget)) }
            return .array(et, items)
        }
    }
}
