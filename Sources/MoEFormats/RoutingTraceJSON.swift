import Foundation

// The JSON form of a routing trace, for small traces that people read (Docs/FORMATS.md):
//   {"format": "swiftmoe-routing-trace", "version": 1, "model": {…}?, "layers": L, "experts": E, "k": K,
//    "documents": [starts…], "tokens": [[[e, …K] ×L] ×N], "weights": [[[w, …K] ×L] ×N]?}

extension RoutingTrace {
    public static let jsonFormatName = "swiftmoe-routing-trace"

    struct JSONForm: Codable {
        var format: String
        var version: Int
        var model: TraceModelIdentity?
        var layers: Int
        var experts: Int
        var k: Int
        var documents: [Int]?
        var tokens: [[[Int]]]
        var weights: [[[Float]]]?
    }

    /// Our JSON form; `path` names the file in errors.
    init(json data: Data, path: String) throws {
        let form: JSONForm
        do { form = try JSONDecoder().decode(JSONForm.self, from: data) } catch {
            throw FormatError.badJSON(path: path, reason: FormatError.clip(Self.reason(error), limit: 200))
        }
        guard form.format == Self.jsonFormatName else {
            throw FormatError.malformed(path: path, what: "format \(FormatError.quote(form.format)) is not \"\(Self.jsonFormatName)\"")
        }
        guard form.version == Self.version else { throw FormatError.unsupportedVersion(path: path, version: form.version) }
        let count = try Self.checkShape(tokens: form.tokens.count, layers: form.layers, k: form.k, experts: form.experts, path: path)
        /// `rows` as a flat [tokens, layers, k] array, each token L lists of K.
        func flat<T>(_ rows: [[[T]]], _ what: String) throws -> [T] {
            guard rows.count == form.tokens.count else {
                throw FormatError.malformed(path: path, what: "\(rows.count) tokens of \(what); \(form.tokens.count) of experts")
            }
            var out: [T] = []
            out.reserveCapacity(count)
            for (t, layers) in rows.enumerated() {
                guard layers.count == form.layers else {
                    throw FormatError.malformed(path: path, what: "token \(t) has \(layers.count) layers of \(what), not \(form.layers)")
                }
                for (l, row) in layers.enumerated() {
                    guard row.count == form.k else {
                        throw FormatError.malformed(path: path, what: "token \(t), layer \(l) has \(row.count) \(what), not \(form.k)")
                    }
                    out += row
                }
            }
            return out
        }
        let ids = try flat(form.tokens, "experts")
        if let i = ids.firstIndex(where: { $0 < 0 || $0 >= form.experts }) {
            throw FormatError.malformed(path: path, what:
                "expert id \(ids[i]) at token \(i / (form.layers * form.k)), layer \(i / form.k % form.layers) is not below the \(form.experts) experts")
        }
        let weights = try form.weights.map { try flat($0, "weights") }
        let docs = form.documents ?? []
        self.init(tokens: form.tokens.count, layers: form.layers, k: form.k, experts: form.experts, ids: ids.map { UInt16($0) },
                  documentStarts: docs.isEmpty ? [0] : docs, weights: weights, model: form.model)
        try check(path: path)
    }

    func jsonData(path: String) throws -> Data {
        func nested<T>(_ flat: [T]) -> [[[T]]] {
            (0 ..< tokens).map { t in (0 ..< layers).map { l in Array(flat[((t * layers + l) * k) ..< ((t * layers + l + 1) * k)]) } }
        }
        let form = JSONForm(format: Self.jsonFormatName, version: Self.version, model: model, layers: layers, experts: experts, k: k,
                            documents: documentStarts, tokens: nested(ids.map { Int($0) }), weights: weights.map(nested))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(form) } catch {
            throw WriterError.ioFailed(path: path, reason: "cannot encode the trace as JSON: \(error)")
        }
    }
}
