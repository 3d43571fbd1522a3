import Foundation

/// A routing trace: for every token (in order) and layer, the experts the router chose.
/// Read from the reference data's layout (`trace.bin`: uint8 `[token][layer][k]`, shape and experts in the
/// `trace.json` beside it, with document boundaries).
public struct RoutingTrace: Sendable {
    public let tokens: Int
    public let layers: Int
    /// Experts chosen per token and layer.
    public let k: Int
    /// Experts per layer.
    public let experts: Int
    /// `[tokens, layers, k]` expert ids.
    public let ids: [UInt16]
    /// First token of each document.
    public let documentStarts: [Int]

    public init(tokens: Int, layers: Int, k: Int, experts: Int, ids: [UInt16], documentStarts: [Int] = [0]) {
        precondition(ids.count == tokens * layers * k)
        self.tokens = tokens
        self.layers = layers
        self.k = k
        self.experts = experts
        self.ids = ids
        self.documentStarts = documentStarts
    }

    /// `path`: a `trace.bin` with its `trace.json` beside it (or the folder holding both).
    public init(sharedTrace path: String) throws {
        var isDir: ObjCBool = false
        let bin = FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue ? path + "/trace.bin" : path
        let json = URL(fileURLWithPath: bin).deletingPathExtension().appendingPathExtension("json").path
        guard let meta = FileManager.default.contents(atPath: json) else { throw FormatError.missingFile(path: json) }
        guard let root = try? JSONSerialization.jsonObject(with: meta) as? [String: Any],
              let shape = root["shape"] as? [Int], shape.count == 3, shape.allSatisfy({ $0 > 0 && $0 < 1 << 30 }),
              let experts = root["experts"] as? Int, experts > 0, experts <= 1 << 16 else {
            throw FormatError.malformed(path: json, what: "expected {shape: [tokens, layers, k], experts: N}")
        }
        guard root["dtype"] as? String ?? "uint8" == "uint8" else {
            throw FormatError.malformed(path: json, what: "dtype \(root["dtype"]!) is not uint8")
        }
        let count = shape[0] * shape[1] * shape[2]
        guard let data = FileManager.default.contents(atPath: bin) else { throw FormatError.missingFile(path: bin) }
        guard data.count == count else {
            throw FormatError.malformed(path: bin, what: "holds \(data.count) bytes; the shape \(shape) in \(json) needs \(count)")
        }
        let ids = data.map { UInt16($0) }
        if let bad = ids.first(where: { Int($0) >= experts }) {
            throw FormatError.malformed(path: bin, what: "expert id \(bad) is not below the \(experts) experts")
        }
        let docs = (root["documents"] as? [[String: Any]] ?? []).compactMap { $0["start"] as? Int }
        self.init(tokens: shape[0], layers: shape[1], k: shape[2], experts: experts, ids: ids,
                  documentStarts: docs.isEmpty ? [0] : docs)
    }

    /// The experts chosen at `token` in `layer`.
    public func experts(token: Int, layer: Int) -> ArraySlice<UInt16> {
        let base = (token * layers + layer) * k
        return ids[base ..< base + k]
    }
}
