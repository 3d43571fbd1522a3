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

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var r = ByteReader(file: file)
        let headerLen = try r.read(UInt64.self, "header length")
        guard headerLen <= UInt64(file.size - 8) else {
            throw FormatError.truncated(path: path, what: "header of \(headerLen) bytes in a \(file.size)-byte file")
        }
        let header = try r.readBytes(Int(headerLen), "header")
        let dataStart = 8 + Int(headerLen)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(header), options: [])
        } catch {
            throw FormatError.badJSON(path: path, reason: "safetensors header is not valid JSON")
        }
        guard let dict = json as? [String: Any] else {
            throw FormatError.badJSON(path: path, reason: "safetensors header is not a JSON object")
        }
        var meta: [String: String] = [:]
        var views: [String: TensorView] = [:]
        var entries: [(String, Int)] = []
        for (name, value) in dict {
            if name == "__metadata__" {
                if let m = value as? [String: Any] { for (k, v) in m { meta[k] = "\(v)" } }
                continue
            }
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsAny = info["data_offsets"] as? [Any], offsAny.count == 2
            else { throw FormatError.malformed(path: path, what: "tensor '\(name)' lacks dtype, shape or data_offsets") }
            let shape = try shapeAny.map { (d: Any) -> Int in
                guard let n = (d as? NSNumber)?.intValue, n >= 0 else {
                    throw FormatError.malformed(path: path, what: "tensor '\(name)' has a bad shape")
                }
                return n
            }
            let offs = try offsAny.map { (d: Any) -> Int in
                guard let n = (d as? NSNumber)?.intValue, n >= 0 else {
                    throw FormatError.malformed(path: path, what: "tensor '\(name)' has bad data_offsets")
                }
                return n
            }
            let type: TensorType
            switch dtype {
            case "F32": type = .f32
            case "F16": type = .f16
            case "BF16": type = .bf16
            default: throw FormatError.unknownDType(path: path, tensor: name, dtype: dtype)
            }
            var count = 1
            for d in shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw FormatError.malformed(path: path, what: "tensor '\(name)' is impossibly large") }
                count = p
            }
            let expected = count * type.blockBytes
            guard offs[1] >= offs[0], offs[1] - offs[0] == expected else {
                throw FormatError.malformed(path: path, what: "tensor '\(name)' spans \(offs[1] - offs[0]) bytes but \(dtype)\(shape) needs \(expected)")
            }
            let bytes = try file.bytes(at: dataStart + offs[0], count: expected,
                                       what: "tensor '\(name)' (bytes \(offs[0])..<\(offs[1]) of the data section)")
            views[name] = TensorView(name: name, type: type, shape: shape.isEmpty ? [1] : shape, bytes: bytes, file: file)
            entries.append((name, offs[0]))
        }
        tensors = views
        names = entries.sorted { $0.1 < $1.1 }.map(\.0)
        metadata = meta
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
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: indexPath)) } catch {
                throw FormatError.cannotOpen(path: indexPath, reason: "\(error.localizedDescription)")
            }
            guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = obj["weight_map"] as? [String: String]
            else { throw FormatError.badJSON(path: indexPath, reason: "expected an object with a \"weight_map\" of names to shard files") }
            weightMap = map
            shardNames = Array(Set(map.values)).sorted()
        } else if fm.fileExists(atPath: singlePath) {
            shardNames = ["model.safetensors"]
        } else {
            let found = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !found.isEmpty else { throw FormatError.missingFile(path: singlePath) }
            shardNames = found
        }
        var shards: [SafetensorsFile] = []
        var index: [String: TensorView] = [:]
        for name in shardNames {
            guard !name.contains("/") || !name.contains("..") else {
                throw FormatError.malformed(path: indexPath, what: "shard name '\(name)' leaves the folder")
            }
            let shardPath = directory + "/" + name
            guard fm.fileExists(atPath: shardPath) else { throw FormatError.missingFile(path: shardPath) }
            let shard = try SafetensorsFile(path: shardPath)
            shards.append(shard)
            for (n, v) in shard.tensors { index[n] = v }
        }
        if let weightMap {
            for (tensor, shard) in weightMap where index[tensor] == nil {
                throw FormatError.missingTensor(path: directory + "/" + shard, name: tensor)
            }
        }
        self.shards = shards
        self.index = index
    }

    public func tensor(_ name: String) -> TensorView? { index[name] }
    public var tensorNames: [String] { index.keys.sorted() }
    public var allTensors: [TensorView] { Array(index.values) }
}
