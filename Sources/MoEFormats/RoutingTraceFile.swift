import Foundation

// Our routing-trace file (Docs/FORMATS.md, "Routing traces"). Little-endian:
//   0   8 bytes  magic "MOETRACE"
//   8   u32      version = 1
//   12  u32      H, bytes of the header JSON
//   16  H bytes  UTF-8 JSON header (`Header` below)
//   then         ids: N·L·K × id_bytes (u8 when experts ≤ 256, else u16), [token][layer][k]
//   then         if "weights": N·L·K × f32 mixing weights, same order
// The file's size must be exactly what the header implies.

extension RoutingTrace {
    public static let magic = Array("MOETRACE".utf8)
    public static let version = 1
    /// Bounds of a header (a trace with millions of documents needs megabytes) and of N·L·K, whatever the
    /// file claims: nothing is allocated before the file's size has been checked against the header.
    public static let maxHeaderBytes = 1 << 28
    public static let maxEntries = 1 << 40

    /// The binary header's JSON.
    struct Header: Codable {
        var tokens: Int
        var layers: Int
        var k: Int
        var experts: Int
        var idBytes: Int
        var weights: Bool
        var documents: [Int]
        var model: TraceModelIdentity?

        enum CodingKeys: String, CodingKey {
            case tokens, layers, k, experts, idBytes = "id_bytes", weights, documents, model
        }
    }

    /// Reads any trace: our binary (by its magic), our JSON form (a `.json` path with the "format" key), or
    /// the reference layout (a folder holding trace.bin and trace.json, a trace.bin with its trace.json
    /// beside it, or that trace.json).
    public init(contentsOf path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FormatError.missingFile(path: path) }
        if isDir.boolValue {
            try self.init(sharedTrace: path)
            return
        }
        let file = try MappedFile(path: path)
        let head = file.size >= 8 ? Array(try file.bytes(at: 0, count: 8, what: "the magic")) : []
        let stem = URL(fileURLWithPath: path).deletingPathExtension()
        if head == Self.magic {
            try self.init(binary: file)
        } else if path.lowercased().hasSuffix(".json") {
            let data = Data(try file.bytes(at: 0, count: file.size, what: "the JSON text"))
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            if object?["format"] == nil, object?["shape"] != nil, FileManager.default.fileExists(atPath: stem.appendingPathExtension("bin").path) {
                try self.init(sharedTrace: stem.appendingPathExtension("bin").path)   // the reference trace.json
            } else {
                try self.init(json: data, path: path)
            }
        } else if FileManager.default.fileExists(atPath: stem.appendingPathExtension("json").path) {
            try self.init(sharedTrace: path)
        } else {
            try self.init(binary: file)   // reports the wrong magic
        }
    }

    /// Our binary format from a mapped file.
    init(binary file: MappedFile) throws {
        let path = file.path
        let magic = Array(try file.bytes(at: 0, count: min(8, file.size), what: "the magic"))
        guard magic == Array(Self.magic.prefix(magic.count)) else {
            throw FormatError.malformed(path: path, what: "not a routing trace (magic \(FormatError.quote(String(decoding: magic, as: UTF8.self)))); expected \"MOETRACE\", a .json trace, or a trace.bin with trace.json beside it")
        }
        guard file.size >= 16 else {
            throw FormatError.truncated(path: path, what: "holds \(file.size) bytes; a routing trace needs at least 16")
        }
        var r = ByteReader(file: file, offset: 8)
        let version = Int(try r.read(UInt32.self, "the version"))
        guard version == Self.version else { throw FormatError.unsupportedVersion(path: path, version: version) }
        let h = Int(try r.read(UInt32.self, "the header length"))
        guard h <= Self.maxHeaderBytes else { throw FormatError.malformed(path: path, what: "header length \(h) exceeds \(Self.maxHeaderBytes)") }
        guard h <= file.size - 16 else {
            throw FormatError.truncated(path: path, what: "holds \(file.size) bytes; its \(h)-byte header needs \(16 + h)")
        }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(try r.readBytes(h, "the header"))) } catch let e as FormatError {
            throw e
        } catch {
            throw FormatError.badJSON(path: path, reason: "header: " + FormatError.clip(Self.reason(error), limit: 200))
        }
        let count = try Self.checkShape(tokens: header.tokens, layers: header.layers, k: header.k, experts: header.experts, path: path)
        guard header.idBytes == 2 || (header.idBytes == 1 && header.experts <= 256) else {
            throw FormatError.malformed(path: path, what: "id_bytes \(header.idBytes) cannot hold ids of \(header.experts) experts (1 for ≤ 256, else 2)")
        }
        // Sizes bounded by maxEntries (2^40) · 6 bytes: no overflow.
        let need = 16 + h + count * header.idBytes + (header.weights ? count * 4 : 0)
        guard file.size >= need else {
            throw FormatError.truncated(path: path, what: "holds \(file.size) bytes; its header (\(header.tokens) tokens × \(header.layers) layers × top-\(header.k)) needs \(need)")
        }
        guard file.size == need else {
            throw FormatError.malformed(path: path, what: "holds \(file.size) bytes, \(file.size - need) more than the \(need) its header needs")
        }
        let raw = try r.readBytes(count * header.idBytes, "the expert ids")
        let ids: [UInt16] = header.idBytes == 1
            ? raw.map { UInt16($0) }
            : (0 ..< count).map { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        var weights: [Float]?
        if header.weights {
            let w = try r.readBytes(count * 4, "the mixing weights")
            weights = (0 ..< count).map { Float(bitPattern: UInt32(littleEndian: w.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        self.init(tokens: header.tokens, layers: header.layers, k: header.k, experts: header.experts, ids: ids,
                  documentStarts: header.documents.isEmpty ? [0] : header.documents, weights: weights, model: header.model)
        try check(path: path)
    }

    /// Checks a claimed shape before anything is allocated for it; returns tokens · layers · k.
    static func checkShape(tokens: Int, layers: Int, k: Int, experts: Int, path: String) throws -> Int {
        func bad(_ what: String) -> FormatError { .malformed(path: path, what: what) }
        guard tokens > 0, layers > 0, k > 0 else { throw bad("shape \(tokens) tokens × \(layers) layers × top-\(k) is not positive") }
        guard experts > 0, experts <= 1 << 16 else { throw bad("\(experts) experts is not in 1…65536") }
        guard k <= experts else { throw bad("top-\(k) of \(experts) experts") }
        let (tl, o1) = tokens.multipliedReportingOverflow(by: layers)
        let (count, o2) = tl.multipliedReportingOverflow(by: k)
        guard !o1, !o2, count <= maxEntries else {
            throw bad("shape \(tokens) tokens × \(layers) layers × top-\(k) exceeds \(maxEntries) entries")
        }
        return count
    }

    /// A decoding error in one line, naming the key path where there is one.
    static func reason(_ error: Error) -> String {
        func at(_ c: DecodingError.Context) -> String {
            let keys = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return keys.isEmpty ? c.debugDescription : "\(keys): \(c.debugDescription)"
        }
        switch error as? DecodingError {
        case let .typeMismatch(_, c)?, let .valueNotFound(_, c)?, let .dataCorrupted(c)?: return at(c)
        case let .keyNotFound(key, c)?: return "missing key '\(key.stringValue)'" + (c.codingPath.isEmpty ? "" : " in \(at(c))")
        default: return "\(error)"
        }
    }

    /// Writes our binary format, or the JSON form when `path` ends in `.json`. Checked first (ids below
    /// `experts`, finite weights, document starts), so whatever is written reads back.
    public func write(to path: String) throws {
        try check(path: path)
        let data = path.lowercased().hasSuffix(".json") ? try jsonData(path: path) : try binaryData()
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw WriterError.ioFailed(path: path, reason: error.localizedDescription)
        }
    }

    func binaryData() throws -> Data {
        let idBytes = experts <= 256 ? 1 : 2
        let header = Header(tokens: tokens, layers: layers, k: k, experts: experts, idBytes: idBytes, weights: weights != nil,
                            documents: documentStarts, model: model)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(header)
        var out = Data(capacity: 16 + json.count + ids.count * (idBytes + (weights == nil ? 0 : 4)))
        func append<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        out.append(contentsOf: Self.magic)
        append(UInt32(Self.version))
        append(UInt32(json.count))
        out.append(json)
        if idBytes == 1 { out.append(contentsOf: ids.map { UInt8($0) }) } else { ids.forEach { append($0) } }
        weights?.forEach { append($0.bitPattern) }
        return out
    }
}
