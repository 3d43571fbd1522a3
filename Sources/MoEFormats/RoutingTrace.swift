import Foundation

/// The model a routing trace was recorded on, so that a trace is not replayed on another model by mistake.
/// Stored in our trace files (binary header and JSON form); the reference traces in ../shared carry none.
public struct TraceModelIdentity: Codable, Sendable, Equatable {
    /// GGUF `general.name`, else the file or folder name.
    public var name: String
    /// GGUF `general.architecture` spelling, e.g. `qwen3moe`.
    public var architecture: String
    /// Basename of the model file or folder.
    public var file: String
    /// Bytes of the weights on disk (a folder: its safetensors files together).
    public var fileBytes: Int
    /// MoE layers, experts per layer, experts chosen per token.
    public var layers: Int
    public var experts: Int
    public var k: Int

    public init(name: String, architecture: String, file: String, fileBytes: Int, layers: Int, experts: Int, k: Int) {
        self.name = name
        self.architecture = architecture
        self.file = file
        self.fileBytes = fileBytes
        self.layers = layers
        self.experts = experts
        self.k = k
    }

    enum CodingKeys: String, CodingKey {
        case name, architecture, file, fileBytes = "file_bytes", layers, experts, k
    }

    /// One line for messages: `'name' (architecture, file)`.
    public var summary: String { "\(FormatError.quote(name)) (\(FormatError.clip(architecture)), \(FormatError.clip(file)))" }
}

/// A routing trace: for every token (in order) and MoE layer, the experts the router chose and, when
/// recorded, their mixing weights. Files: our own format (`RoutingTraceFile.swift`, Docs/FORMATS.md) and
/// the reference data's layout (`trace.bin`: uint8 `[token][layer][k]`, shape and experts in the
/// `trace.json` beside it, with document boundaries). `init(contentsOf:)` reads any of them.
public struct RoutingTrace: Sendable, Equatable {
    public let tokens: Int
    /// MoE layers (a dense layer has no router and no entry).
    public let layers: Int
    /// Experts chosen per token and layer.
    public let k: Int
    /// Experts per layer.
    public let experts: Int
    /// `[tokens, layers, k]` expert ids, each (token, layer)'s k in the router's order (highest weight first).
    public let ids: [UInt16]
    /// First token of each document (ascending; `[0]` when the trace has no boundaries).
    public let documentStarts: [Int]
    /// `[tokens, layers, k]` mixing weights, the same order as `ids`; nil when not recorded.
    public let weights: [Float]?
    /// The model it was recorded on, when known.
    public let model: TraceModelIdentity?

    /// `ids` (and `weights`, if any) must hold `tokens · layers · k` values; the readers check files first.
    public init(tokens: Int, layers: Int, k: Int, experts: Int, ids: [UInt16], documentStarts: [Int] = [0],
                weights: [Float]? = nil, model: TraceModelIdentity? = nil) {
        precondition(ids.count == tokens * layers * k)
        precondition(weights == nil || weights!.count == ids.count)
        self.tokens = tokens
        self.layers = layers
        self.k = k
        self.experts = experts
        self.ids = ids
        self.documentStarts = documentStarts
        self.weights = weights
        self.model = model
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
        // Each below 2^30, but their product can overflow: checked, not trapped.
        let (tl, o1) = shape[0].multipliedReportingOverflow(by: shape[1])
        let (count, o2) = tl.multipliedReportingOverflow(by: shape[2])
        guard !o1, !o2 else { throw FormatError.malformed(path: json, what: "the shape \(shape) overflows") }
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
        try checkDocuments(path: json)
    }

    /// Tokens `range` of the trace (document starts and weights cut to match; the model identity kept).
    public func tokens(in range: Range<Int>) -> RoutingTrace {
        let per = layers * k, entries = range.lowerBound * per ..< range.upperBound * per
        return RoutingTrace(tokens: range.count, layers: layers, k: k, experts: experts, ids: Array(ids[entries]),
                            documentStarts: documentStarts.filter(range.contains).map { $0 - range.lowerBound },
                            weights: weights.map { Array($0[entries]) }, model: model)
    }

    /// The experts chosen at `token` in `layer`.
    public func experts(token: Int, layer: Int) -> ArraySlice<UInt16> {
        let base = (token * layers + layer) * k
        return ids[base ..< base + k]
    }

    /// Their mixing weights (nil when the trace has none).
    public func weights(token: Int, layer: Int) -> ArraySlice<Float>? {
        let base = (token * layers + layer) * k
        return weights?[base ..< base + k]
    }

    /// Refuses a trace recorded on another model: `layers` (MoE layers), `experts` and `k` must match.
    /// `modelName` names the model it is meant for, `path` the trace file in the error.
    public func requireShape(layers: Int, experts: Int, k: Int, modelName: String, path: String) throws {
        guard layers != self.layers || experts != self.experts || k != self.k else { return }
        let recorded = model.map { ", recorded on \($0.summary)" } ?? ""
        throw FormatError.malformed(path: path, what:
            "trace from another model: it has \(self.layers) MoE layers × \(self.experts) experts, top-\(self.k)\(recorded); \(FormatError.quote(modelName)) has \(layers) MoE layers × \(experts) experts, top-\(k)")
    }

    /// Document starts must ascend strictly within `0 ..< tokens`.
    func checkDocuments(path: String) throws {
        for (i, s) in documentStarts.enumerated() {
            guard s >= 0, s < tokens else {
                throw FormatError.malformed(path: path, what: "document \(i) starts at token \(s), outside 0..<\(tokens)")
            }
            if i > 0, s <= documentStarts[i - 1] {
                throw FormatError.malformed(path: path, what: "document starts do not ascend (\(documentStarts[i - 1]) then \(s))")
            }
        }
    }

    /// Everything a reader checks once the arrays are in memory (and a writer before writing): every id below
    /// `experts`, every weight finite, the document starts.
    func check(path: String) throws {
        if let i = ids.firstIndex(where: { Int($0) >= experts }) {
            throw FormatError.malformed(path: path, what:
                "expert id \(ids[i]) at token \(i / (layers * k)), layer \(i / k % layers) is not below the \(experts) experts")
        }
        if let w = weights, let i = w.firstIndex(where: { !$0.isFinite }) {
            throw FormatError.malformed(path: path, what: "mixing weight \(w[i]) at token \(i / (layers * k)), layer \(i / k % layers) is not finite")
        }
        try checkDocuments(path: path)
    }
}
