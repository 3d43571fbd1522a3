import Foundation
import MoEFormats
import Testing
import TestSupport

/// Our routing-trace files (binary and JSON) read back what was written, the reference layout reads through
/// the same entry point, and every broken file is a one-line FormatError naming it, never a crash.
@Suite struct RoutingTraceFileTests {
    static let identity = TraceModelIdentity(name: "Tiny \"Qwen3Moe\"", architecture: "qwen3moe", file: "tiny.gguf",
                                             fileBytes: 24_366_528, layers: 3, experts: 32, k: 4)

    /// A deterministic trace: distinct experts per (token, layer), weights summing to 1.
    static func trace(tokens: Int = 37, layers: Int = 3, k: Int = 4, experts: Int = 32, weights: Bool = true) -> RoutingTrace {
        var state: UInt64 = 0x1234_5678
        func next() -> Int { state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return Int(state >> 33) }
        var ids: [UInt16] = [], w: [Float] = []
        for _ in 0 ..< tokens * layers {
            var chosen: [Int] = []
            while chosen.count < k { let e = next() % experts; if !chosen.contains(e) { chosen.append(e) } }
            ids += chosen.map { UInt16($0) }
            let raw = (0 ..< k).map { _ in Float(next() % 1000 + 1) / 997 }
            w += raw.map { $0 / raw.reduce(0, +) }
        }
        return RoutingTrace(tokens: tokens, layers: layers, k: k, experts: experts, ids: ids, documentStarts: [0, 5, 20].filter { $0 < tokens },
                            weights: weights ? w : nil, model: experts == 32 ? identity : nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let experts: Int, weights: Bool, json: Bool
        var testDescription: String { "\(experts) experts, weights \(weights), \(json ? "json" : "binary")" }
    }
    static let cases = [32, 300].flatMap { e in [false, true].flatMap { w in [false, true].map { Case(experts: e, weights: w, json: $0) } } }

    @Test(arguments: cases)
    func roundTrip(c: Case) throws {
        let dir = try BadInputScratch()
        let t = Self.trace(experts: c.experts, weights: c.weights)
        let path = dir.file(c.json ? "t.json" : "t.trace")
        try t.write(to: path)
        let back = try RoutingTrace(contentsOf: path)
        #expect(back == t)
        if !c.json {   // the size is exactly what the header implies: 1-byte ids up to 256 experts
            let size = try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let h = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
            #expect(size == 16 + h + t.ids.count * ((c.experts <= 256 ? 1 : 2) + (c.weights ? 4 : 0)))
            #expect(bytes.prefix(8) == Data("MOETRACE".utf8))
        }
    }

    @Test func jsonFormIsTheDocumentedOne() throws {
        let dir = try BadInputScratch()
        let t = RoutingTrace(tokens: 2, layers: 1, k: 2, experts: 4, ids: [3, 1, 0, 2], documentStarts: [0, 1], weights: [0.75, 0.25, 0.5, 0.5])
        try t.write(to: dir.file("t.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("t.json")))) as? [String: Any])
        #expect(root["format"] as? String == "swiftmoe-routing-trace")
        #expect(root["version"] as? Int == 1)
        #expect(root["tokens"] as? [[[Int]]] == [[[3, 1]], [[0, 2]]])
        #expect(root["weights"] as? [[[Double]]] == [[[0.75, 0.25]], [[0.5, 0.5]]])
        #expect(root["documents"] as? [Int] == [0, 1])
        // Hand-written, without the optional keys.
        let hand = try dir.write("h.json", text: #"{"format":"swiftmoe-routing-trace","version":1,"layers":1,"experts":4,"k":2,"tokens":[[[3,1]],[[0,2]]]}"#)
        #expect(try RoutingTrace(contentsOf: hand) == RoutingTrace(tokens: 2, layers: 1, k: 2, experts: 4, ids: [3, 1, 0, 2]))
    }

    @Test(.enabled(if: SharedData.tiny != nil, "\(SharedData.skipMessage)"))
    func sharedTinyTrace() throws {
        let folder = SharedData.tiny!
        let reference = try RoutingTrace(sharedTrace: folder)
        #expect(reference.tokens == 60_019 && reference.layers == 8 && reference.k == 4 && reference.experts == 32)
        #expect(reference.documentStarts.count == 545 && reference.weights == nil && reference.model == nil)
        for path in [folder, folder + "/trace.bin", folder + "/trace.json"] {
            #expect(try RoutingTrace(contentsOf: path) == reference, "\(path)")
        }
        let dir = try BadInputScratch()
        try reference.write(to: dir.file("tiny.trace"))
        #expect(try RoutingTrace(contentsOf: dir.file("tiny.trace")) == reference)
        let size = try #require(FileManager.default.attributesOfItem(atPath: dir.file("tiny.trace"))[.size] as? Int)
        #expect(size > 60_019 * 8 * 4 && size < 60_019 * 8 * 4 + 8192)   // 1-byte ids plus the header
    }

    // MARK: Bad files

    /// A binary trace from parts, for files the writer refuses to make.
    static func raw(magic: String = "MOETRACE", version: UInt32 = 1, header: String, payload: [UInt8]) -> [UInt8] {
        var b = Array(magic.utf8)
        withUnsafeBytes(of: version.littleEndian) { b += $0 }
        withUnsafeBytes(of: UInt32(header.utf8.count).littleEndian) { b += $0 }
        return b + Array(header.utf8) + payload
    }
    static func header(tokens: Any = 2, layers: Any = 1, k: Any = 2, experts: Any = 4, idBytes: Int = 1, weights: Bool = false,
                       documents: String = "[0]") -> String {
        #"{"tokens":\#(tokens),"layers":\#(layers),"k":\#(k),"experts":\#(experts),"id_bytes":\#(idBytes),"weights":\#(weights),"documents":\#(documents)}"#
    }

    @Test func truncatedAtEveryPart() throws {
        let dir = try BadInputScratch()
        let t = Self.trace(tokens: 9)
        try t.write(to: dir.file("full.trace"))
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("full.trace"))))
        let h = Int(bytes[12]) | Int(bytes[13]) << 8
        let ids = 16 + h, weights = ids + t.ids.count
        for cut in [0, 3, 8, 12, 15, 16, 16 + h / 2, ids - 1, ids, ids + 7, weights, weights + 5, bytes.count - 1] {
            let path = try dir.write("cut\(cut).trace", Array(bytes.prefix(cut)))
            let e = formatError { _ = try RoutingTrace(contentsOf: path) }
            if cut < ids { continue }   // inside the header: truncated or bad JSON
            expectMessage(e, path: path, "truncated", "holds \(cut) bytes", "needs \(bytes.count)")
        }
        let longer = try dir.write("long.trace", bytes + [0])
        expectMessage(formatError { _ = try RoutingTrace(contentsOf: longer) }, path: longer, "1 more")
    }

    @Test func badHeaders() throws {
        let dir = try BadInputScratch()
        func expect(_ bytes: [UInt8], _ phrases: String..., line: Int = #line) throws {
            let path = try dir.write("bad\(line).trace", bytes)
            let e = formatError { _ = try RoutingTrace(contentsOf: path) }
            for p in phrases { expectMessage(e, path: path, p) }
        }
        let ok = Self.raw(header: Self.header(), payload: [3, 1, 0, 2])
        #expect(try RoutingTrace(contentsOf: dir.write("ok.trace", ok)).ids == [3, 1, 0, 2])
        try expect(Self.raw(magic: "MOETRACX", header: Self.header(), payload: [3, 1, 0, 2]), "not a routing trace", "MOETRACX")
        try expect(Self.raw(version: 2, header: Self.header(), payload: [3, 1, 0, 2]), "unsupported format version 2")
        try expect(Self.raw(header: Self.header(), payload: [3, 1, 4, 2]), "expert id 4 at token 1, layer 0", "4 experts")
        try expect(Self.raw(header: "{\"tokens\":2,", payload: [3, 1, 0, 2]), "malformed JSON")
        try expect(Self.raw(header: Self.header().replacingOccurrences(of: "\"k\":2,", with: ""), payload: [3, 1, 0, 2]), "malformed JSON", "'k'")
        try expect(Self.raw(header: Self.header(tokens: "\"two\""), payload: [3, 1, 0, 2]), "malformed JSON", "tokens")
        // Huge shapes: refused by the file's size or as an overflow, never allocated.
        try expect(Self.raw(header: Self.header(tokens: 1 << 38), payload: [3, 1, 0, 2]), "truncated", "holds")
        try expect(Self.raw(header: Self.header(tokens: Int.max, layers: Int.max), payload: []), "exceeds")
        try expect(Self.raw(header: Self.header(tokens: 1 << 30, layers: 1 << 20), payload: []), "exceeds")
        try expect(Self.raw(header: Self.header(tokens: "1e300"), payload: []), "malformed JSON")
        try expect(Self.raw(header: Self.header(tokens: 0), payload: []), "not positive")
        try expect(Self.raw(header: Self.header(k: -2), payload: []), "not positive")
        try expect(Self.raw(header: Self.header(k: 5), payload: [3, 1, 0, 2]), "top-5 of 4 experts")
        try expect(Self.raw(header: Self.header(experts: 70_000, idBytes: 2), payload: []), "70000 experts")
        try expect(Self.raw(header: Self.header(experts: 300, idBytes: 1), payload: [3, 1, 0, 2]), "id_bytes 1")
        try expect(Self.raw(header: Self.header(documents: "[1,0]"), payload: [3, 1, 0, 2]), "do not ascend")
        try expect(Self.raw(header: Self.header(documents: "[0,2]"), payload: [3, 1, 0, 2]), "outside 0..<2")
        var nan = Self.raw(header: Self.header(weights: true), payload: [3, 1, 0, 2])
        for w in [Float(0.5), 0.5, .nan, 0.5] { withUnsafeBytes(of: w.bitPattern.littleEndian) { nan += $0 } }
        try expect(nan, "not finite")
        try expect(Self.raw(header: String(repeating: " ", count: 3), payload: []), "malformed JSON")
        try expect(Array("MOETRACE".utf8) + [1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F], "header length")
    }

    @Test func badJSONForms() throws {
        let dir = try BadInputScratch()
        func expect(_ text: String, _ phrase: String, line: Int = #line) throws {
            let path = try dir.write("bad\(line).json", text: text)
            expectMessage(formatError { _ = try RoutingTrace(contentsOf: path) }, path: path, phrase)
        }
        let head = #""format":"swiftmoe-routing-trace","version":1,"layers":1,"experts":4,"k":2"#
        try expect("{\(head),\"tokens\":[[[3,1]],[[0]]]}", "token 1, layer 0 has 1 experts")
        try expect("{\(head),\"tokens\":[[[3,1],[0,1]]]}", "token 0 has 2 layers")
        try expect("{\(head),\"tokens\":[[[3,9]]]}", "expert id 9")
        try expect("{\(head),\"tokens\":[[[3,-1]]]}", "expert id -1")
        try expect("{\(head),\"tokens\":[]}", "not positive")
        try expect("{\(head),\"tokens\":[[[3,1]]],\"weights\":[[[0.5,0.5]],[[1,0]]]}", "2 tokens of weights")
        try expect("{\(head)}", "'tokens'")
        try expect(#"{"format":"other","version":1,"layers":1,"experts":4,"k":2,"tokens":[[[3,1]]]}"#, "'other'")
        try expect(#"{"format":"swiftmoe-routing-trace","version":7,"layers":1,"experts":4,"k":2,"tokens":[[[3,1]]]}"#, "version 7")
        try expect("[1, 2", "malformed JSON")
    }

    @Test func unknownFilesAndWriterChecks() throws {
        let dir = try BadInputScratch()
        let text = try dir.write("notes.txt", text: "hello, world")
        expectMessage(formatError { _ = try RoutingTrace(contentsOf: text) }, path: text, "not a routing trace")
        expectMessage(formatError { _ = try RoutingTrace(contentsOf: dir.file("absent.trace")) }, path: dir.file("absent.trace"), "not found")
        let bad = RoutingTrace(tokens: 1, layers: 1, k: 2, experts: 4, ids: [1, 7])
        expectMessage(formatError { try bad.write(to: dir.file("w.trace")) }, path: dir.file("w.trace"), "expert id 7")
        #expect(!FileManager.default.fileExists(atPath: dir.file("w.trace")))
    }

    @Test func requireShapeNamesBothModels() throws {
        let t = Self.trace()
        try t.requireShape(layers: 3, experts: 32, k: 4, modelName: "same", path: "t.trace")
        let e = formatError { try t.requireShape(layers: 48, experts: 128, k: 8, modelName: "Qwen3-30B-A3B", path: "t.trace") }
        expectMessage(e, path: "t.trace", "another model", "3 MoE layers × 32 experts, top-4", "'Qwen3-30B-A3B' has 48 MoE layers × 128 experts, top-8",
                      "Tiny", "qwen3moe", "tiny.gguf")
    }
}
