import Foundation

/// One `.safetensors` file: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.
/// Tensors are views into the mapping. Supported dtypes: F32, F16, BF16.
public final class SafetensorsFile: @unchecked Sendable {
    public let file: MappedFile
    public var path: String { file.path }
    public let tensors: [String: TensorView]
    /// Tensor names in header order.
    public let names: [String]
    public let metadata: [String: String]

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// The format's own limit on the JSON header (the reference implementation refuses larger ones); it also
    /// keeps a corrupt length from making us copy and parse gigabytes.
    public static let maxHeaderBytes = 100_000_000

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var r = ByteReader(file: file)
        let headerLen = try r.read(UInt64.self, "header length")
        guard headerLen <= UInt64(r.remaining) else {
            throw FormatError.truncated(path: path, what: "header of \(headerLen) bytes runs past the end of the file (\(file.size) bytes)")
        }
        guard headerLen <= UInt64(Self.maxHeaderBytes) else {
            throw FormatError.malformed(path: path, what: "header of \(headerLen) bytes is larger than the format allows (\(Self.maxHeaderBytes))")
        }
        let header = try r.readBytes(Int(headerLen), "header")
        let dataStart = r.offset
        let entries: [String: HeaderEntry]
        do {
            entries = try JSONDecoder().decode([String: HeaderEntry].self, from: Data(header))
        } catch DecodingError.typeMismatch {
            throw FormatError.badJSON(path: path, reason: "safetensors header is not a JSON object")
        } catch {
            throw FormatError.badJSON(path: path, reason: "safetensors header: " + HFConfig.syntaxProblem(Data(header)))
        }
        var meta: [String: String] = [:]
        var views: [String: TensorView] = [:]
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {   // sorted: the same error every run
            switch entry {
            case let .metadata(m): meta = m
            case let .invalid(why): throw FormatError.malformed(path: path, what: "tensor \(FormatError.quote(name)) \(why)")
            case let .tensor(dtype, shape, offsets):
                views[name] = try Self.view(name, dtype: dtype, shape: shape, offsets: offsets, dataStart: dataStart, in: file)
                spans.append((offsets[0], offsets[1], name))
            }
        }
        spans.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        // The format forbids tensors sharing bytes (each byte has one meaning).
        let filled = spans.filter { $0.end > $0.begin }
        for (a, b) in zip(filled, filled.dropFirst()) where b.begin < a.end {
            throw FormatError.malformed(path: path, what: "tensors \(FormatError.quote(a.name)) and \(FormatError.quote(b.name)) overlap")
        }
        tensors = views
        names = spans.map(\.name)
        metadata = meta
    }

    /// A tensor's bytes: `data_offsets` (relative to the data section, in order) must span exactly
    /// dtype size × elements and lie inside the file.
    static func view(_ name: String, dtype: String, shape: [Int], offsets: [Int], dataStart: Int, in file: MappedFile) throws -> TensorView {
        let path = file.path, quoted = FormatError.quote(name)
        let type: TensorType
        switch dtype {
        case "F32": type = .f32
        case "F16": type = .f16
        case "BF16": type = .bf16
        case "U8", "I8": type = .i8   // raw bytes, for an architecture to repack (gpt-oss's MXFP4 experts)
        default: throw FormatError.unknownDType(path: path, tensor: name, dtype: dtype)
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard d >= 0, !o else { throw FormatError.malformed(path: path, what: "tensor \(quoted) has shape \(shape)") }
            count = p
        }
        let (expected, o) = count.multipliedReportingOverflow(by: type.blockBytes)
        guard !o else { throw FormatError.malformed(path: path, what: "tensor \(quoted) of shape \(shape) is impossibly large") }
        guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
            throw FormatError.malformed(path: path, what: "tensor \(quoted) has data_offsets \(offsets), not [begin, end] in order")
        }
        guard offsets[1] - offsets[0] == expected else {
            throw FormatError.malformed(path: path, what: "tensor \(quoted) spans \(offsets[1] - offsets[0]) bytes but \(dtype)\(shape) needs \(expected)")
        }
        let dataSize = file.size - dataStart
        guard offsets[1] <= dataSize else {
            throw FormatError.truncated(path: path, what: "tensor \(quoted) data ends at byte \(UInt64(dataStart) + UInt64(offsets[1])), past the end of the file (\(file.size) bytes)")
        }
        let bytes = try file.bytes(at: dataStart + offsets[0], count: expected, what: "tensor \(quoted)")
        return TensorView(name: name, type: type, shape: shape.isEmpty ? [1] : shape, bytes: bytes, file: file)
    }
}

/// One entry of a safetensors header: a tensor, the `__metadata__` map, or something else (kept, so that
/// the error can name the entry rather than just say the JSON did not decode).
private enum HeaderEntry: Decodable {
    case tensor(dtype: String, shape: [Int], offsets: [Int])
    case metadata([String: String])
    case invalid(String)

    private enum Keys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }

    init(from decoder: Decoder) throws {
        if decoder.codingPath.last?.stringValue == "__metadata__" {
            // The format says string → string; anything else there is ignored rather than refused.
            self = .metadata((try? decoder.singleValueContainer().decode([String: String].self)) ?? [:])
            return
        }
        guard let c = try? decoder.container(keyedBy: Keys.self) else { self = .invalid("is not an object"); return }
        // Exact integers only: JSONDecoder refuses 1.5, -1 for offsets is caught by the caller, huge numbers do not fit Int.
        guard let dtype = try? c.decode(String.self, forKey: .dtype),
              let shape = try? c.decode([Int].self, forKey: .shape),
              let offsets = try? c.decode([Int].self, forKey: .dataOffsets) else {
            self = .invalid("lacks a valid dtype, shape or data_offsets")
            return
        }
        self = .tensor(dtype: dtype, shape: shape, offsets: offsets)
    }
}

/// A Hugging Face checkpoint folder's weights: `model.safetensors`, or shards listed by
/// `model.safetensors.index.json`. Looks tensors up by their HF names.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: String
    public let shards: [SafetensorsFile]
    private let index: [String: TensorView]

    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = directory + "/model.safetensors.index.json"
        let singlePath = directory + "/model.safetensors"
        var shardNames: [String] = []
        var weightMap: [String: String]? = nil
        if fm.fileExists(atPath: indexPath) {
            let map = try Self.readWeightMap(indexPath)
            weightMap = map
            shardNames = Array(Set(map.values)).sorted()
        } else if fm.fileExists(atPath: singlePath) {
            shardNames = ["model.safetensors"]
        } else {
            let found = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !found.isEmpty else { throw FormatError.missingFile(path: singlePath) }
            shardNames = found
        }
        var opened: [String: SafetensorsFile] = [:]
        var index: [String: TensorView] = [:]
        for name in shardNames {
            // Shards live in the folder: no absolute paths, no way out through "..".
            guard !name.isEmpty, !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw FormatError.malformed(path: indexPath, what: "shard name \(FormatError.quote(name)) leaves the folder")
            }
            let shardPath = directory + "/" + name
            guard fm.fileExists(atPath: shardPath) else {
                throw weightMap == nil ? FormatError.missingFile(path: shardPath) : FormatError.missingShard(path: shardPath, index: indexPath)
            }
            let shard = try SafetensorsFile(path: shardPath)
            opened[name] = shard
            for (n, v) in shard.tensors {
                if let other = index[n] {
                    throw FormatError.malformed(path: shardPath, what: "tensor \(FormatError.quote(n)) is also in \(FormatError.lastComponent(other.file.path))")
                }
                index[n] = v
            }
        }
        // Every tensor the index lists must be in the shard it names (sorted: the same error every run).
        for (tensor, shard) in (weightMap ?? [:]).sorted(by: { $0.key < $1.key }) where opened[shard]?.tensors[tensor] == nil {
            throw FormatError.missingTensor(path: directory + "/" + shard, name: tensor)
        }
        shards = shardNames.compactMap { opened[$0] }
        self.index = index
    }

    /// `weight_map` of model.safetensors.index.json: tensor name → shard file name.
    static func readWeightMap(_ path: String) throws -> [String: String] {
        struct Index: Decodable { let weight_map: [String: String] }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError.cannotOpen(path: path, reason: FormatError.clip(error.localizedDescription))
        }
        do {
            return try JSONDecoder().decode(Index.self, from: data).weight_map
        } catch DecodingError.dataCorrupted(let c) where c.codingPath.isEmpty {
            throw FormatError.badJSON(path: path, reason: HFConfig.syntaxProblem(data))
        } catch {
            throw FormatError.badJSON(path: path, reason: "expected an object with a \"weight_map\" of tensor names to shard files")
        }
    }

    public func tensor(_ name: String) -> TensorView? { index[name] }
    public var tensorNames: [String] { index.keys.sorted() }
    public var allTensors: [TensorView] { Array(index.values) }
}
