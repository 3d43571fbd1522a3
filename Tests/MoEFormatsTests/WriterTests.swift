import Foundation
import MoEFormats
import Testing

/// A fresh folder under the temporary directory, removed when the value goes away.
private final class WriterScratch {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("moe-writer-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Deterministic bytes for tensor contents.
private func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0 ..< count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
}

private func bytes(of view: TensorView) -> [UInt8] { Array(view.bytes) }

private func byteCount(_ type: TensorType, _ shape: [Int]) -> Int { type.byteCount(elements: shape.reduce(1, *))! }

struct GGUFWriterTests {
    /// One value of every GGUF type, arrays of each element type, nested and empty arrays, odd strings.
    static let everyValue: [(String, GGUFValue)] = [
        ("general.architecture", .string("qwen3moe")),
        ("t.uint8", .uint8(250)), ("t.int8", .int8(-128)),
        ("t.uint16", .uint16(65535)), ("t.int16", .int16(-32768)),
        ("t.uint32", .uint32(4_000_000_000)), ("t.int32", .int32(-2_000_000_000)),
        ("t.uint64", .uint64(.max)), ("t.int64", .int64(.min)),
        ("t.float32", .float32(-1.5e-7)), ("t.float64", .float64(3.141592653589793)),
        ("t.float32.inf", .float32(.infinity)),
        ("t.bool.true", .bool(true)), ("t.bool.false", .bool(false)),
        ("t.string", .string("héllo wörld ✓ \u{0}nul inside")), ("t.string.empty", .string("")),
        ("t.arr.uint8", .array(.uint8, [.uint8(0), .uint8(255)])),
        ("t.arr.int8", .array(.int8, [.int8(-1), .int8(127)])),
        ("t.arr.uint16", .array(.uint16, [.uint16(1), .uint16(2), .uint16(3)])),
        ("t.arr.int16", .array(.int16, [.int16(-300)])),
        ("t.arr.uint32", .array(.uint32, [.uint32(7), .uint32(.max)])),
        ("t.arr.int32", .array(.int32, (0 ..< 300).map { .int32(Int32($0) - 150) })),
        ("t.arr.uint64", .array(.uint64, [.uint64(1 << 40)])),
        ("t.arr.int64", .array(.int64, [.int64(-(1 << 40)), .int64(0)])),
        ("t.arr.float32", .array(.float32, [.float32(0.5), .float32(-2), .float32(1e30)])),
        ("t.arr.float64", .array(.float64, [.float64(1e-300)])),
        ("t.arr.bool", .array(.bool, [.bool(true), .bool(false), .bool(true)])),
        ("t.arr.string", .array(.string, [.string("Ġthe"), .string(""), .string("<|endoftext|>")])),
        ("t.arr.empty", .array(.float32, [])),
        ("t.arr.nested", .array(.array, [.array(.uint32, [.uint32(1), .uint32(2)]), .array(.uint32, []),
                                          .array(.uint32, [.uint32(3)])])),
        ("t.arr.nested.strings", .array(.array, [.array(.string, [.string("a b")])])),
    ]

    @Test("every metadata value type round-trips, in order")
    func metadataRoundTrip() throws {
        let dir = try WriterScratch()
        let path = dir.file("meta.gguf")
        let w = try GGUFWriter(path: path)
        for (k, v) in Self.everyValue { try w.setMetadata(k, v) }
        // Setting a key again replaces the value but keeps its place.
        try w.setMetadata("t.uint8", .uint8(7))
        try w.finish()

        let g = try GGUFFile(path: path)
        #expect(g.version == 3)
        #expect(g.metadataKeys == Self.everyValue.map(\.0))
        for (k, v) in Self.everyValue {
            #expect(g.metadata[k] == (k == "t.uint8" ? .uint8(7) : v), "\(k)")
        }
        #expect(g.tensors.isEmpty)
        #expect(g.alignment == 32)
    }

    /// Tensors of several types, ranks and sizes that are not multiples of the alignment.
    static let tensorSpecs: [(String, TensorType, [Int])] = [
        ("token_embd.weight", .f16, [7, 3]),
        ("scalar.like", .f32, [1]),
        ("blk.0.attn_q.weight", .bf16, [5, 3, 2]),
        ("blk.0.ffn_up_exps.weight", .q8_0, [3, 2, 64]),
        ("blk.0.ffn_down_exps.weight", .q4_K, [2, 1, 256]),
        ("four.d", .f32, [2, 3, 1, 5]),
        ("blk.0.attn_norm.weight", .f32, [13]),
        ("q6", .q6_K, [1, 512]),
    ]

    @Test("tensor infos and bytes round-trip; data and every tensor aligned", arguments: [0, 32, 64, 256])
    func tensorsRoundTrip(alignment: Int) throws {
        let dir = try WriterScratch()
        let path = dir.file("t.gguf")
        let w = try GGUFWriter(path: path, alignment: alignment == 0 ? nil : alignment)
        try w.setMetadata("general.architecture", .string("test"))
        var expected: [String: [UInt8]] = [:]
        for (i, (name, type, shape)) in Self.tensorSpecs.enumerated() {
            let b = pseudoRandomBytes(byteCount(type, shape), seed: UInt64(i))
            expected[name] = b
            try w.addTensor(name: name, type: type, shape: shape, bytes: b)
        }
        try w.finish()

        let g = try GGUFFile(path: path)
        let align = alignment == 0 ? 32 : alignment
        #expect(g.alignment == align)
        #expect(g.metadata["general.alignment"] == (alignment == 0 ? nil : .uint32(UInt32(alignment))))
        #expect(g.dataOffset % align == 0)
        #expect(g.tensors.map(\.name) == Self.tensorSpecs.map(\.0))
        let base = try #require(g.file.base)
        var end = g.dataOffset
        for (name, type, shape) in Self.tensorSpecs {
            let t = try #require(g.tensor(name))
            #expect(t.type == type)
            #expect(t.shape == shape)
            #expect(bytes(of: t) == expected[name], "\(name)")
            let start = UnsafeRawPointer(t.bytes.baseAddress!) - base
            #expect((start - g.dataOffset) % align == 0, "\(name) starts at \(start)")
            #expect(start == end, "\(name): tensors are packed in order, each padded to the alignment")
            end = start + (t.bytes.count + align - 1) / align * align
        }
        // The last tensor is padded too, and every padding byte is zero.
        #expect(g.file.size == end)
        let all = UnsafeRawBufferPointer(start: base, count: g.file.size)
        for (i, (name, _, _)) in Self.tensorSpecs.enumerated() {
            let t = g.tensor(name)!
            let stop = UnsafeRawPointer(t.bytes.baseAddress!) - base + t.bytes.count
            let next = i + 1 < Self.tensorSpecs.count ? UnsafeRawPointer(g.tensor(Self.tensorSpecs[i + 1].0)!.bytes.baseAddress!) - base : g.file.size
            #expect(all[stop ..< next].allSatisfy { $0 == 0 }, "padding after \(name)")
        }
        #expect(w.tensorOffsets.map { $0 + g.dataOffset } == Self.tensorSpecs.map { UnsafeRawPointer(g.tensor($0.0)!.bytes.baseAddress!) - base })
    }

    @Test("producers stream tensor data in chunks, larger than the write buffer too")
    func producersStream() throws {
        let dir = try WriterScratch()
        let path = dir.file("stream.gguf")
        let w = try GGUFWriter(path: path)
        let big = pseudoRandomBytes(3 << 20 + 12, seed: 9) // 3 MiB + 12 bytes of f32 = [786435] floats
        let small = pseudoRandomBytes(byteCount(.q4_0, [3, 32]), seed: 10)
        let floats: [Float] = (0 ..< 10).map { Float($0) * 0.25 - 1 }
        try w.addTensor(name: "small", type: .q4_0, shape: [3, 32]) { sink in
            for row in 0 ..< 3 { try sink.write(Array(small[row * 18 ..< (row + 1) * 18])) }
        }
        try w.addTensor(name: "given", type: .f32, shape: [10], data: floats.withUnsafeBytes { Data($0) })
        try w.addTensor(name: "big", type: .f32, shape: [big.count / 4]) { sink in
            var at = 0
            for chunk in [1, 1000, 1 << 20, 2 << 20, 1 << 19] where at < big.count { // odd-sized pieces
                let n = min(chunk, big.count - at)
                try sink.write(Array(big[at ..< at + n]))
                at += n
            }
            try sink.write(Array(big[at...]))
        }
        try w.addTensor(name: "typed", type: .f32, shape: [2, 5]) { sink in try sink.write(contentsOf: floats) }
        try w.finish()

        let g = try GGUFFile(path: path)
        #expect(bytes(of: try #require(g.tensor("small"))) == small)
        #expect(bytes(of: try #require(g.tensor("big"))) == big)
        #expect(bytes(of: try #require(g.tensor("given"))) == floats.withUnsafeBytes { Array($0) })
        let typed = try #require(g.tensor("typed"))
        #expect(typed.shape == [2, 5])
        #expect(Array(typed.bytes.bindMemory(to: Float.self)) == floats)
    }

    @Test("a producer that writes the wrong amount fails, and leaves no file behind")
    func producerByteCountChecked() throws {
        let dir = try WriterScratch()
        for wrong in [0, 39, 41] {
            let path = dir.file("bad\(wrong).gguf")
            let w = try GGUFWriter(path: path)
            try w.addTensor(name: "ok", type: .f32, shape: [2], bytes: [UInt8](repeating: 1, count: 8))
            try w.addTensor(name: "x", type: .f32, shape: [10]) { sink in try sink.write([UInt8](repeating: 0, count: wrong)) }
            #expect(throws: WriterError.wrongByteCount(tensor: "x", expected: 40, written: wrong)) { try w.finish() }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("bad declarations are refused when made")
    func invalidDeclarations() throws {
        let dir = try WriterScratch()
        let w = try GGUFWriter(path: dir.file("x.gguf"))
        try w.addTensor(name: "a", type: .f32, shape: [4], bytes: [UInt8](repeating: 0, count: 16))
        #expect(throws: WriterError.duplicateTensor(name: "a")) {
            try w.addTensor(name: "a", type: .f32, shape: [4], bytes: [UInt8](repeating: 0, count: 16))
        }
        #expect(throws: WriterError.wrongByteCount(tensor: "b", expected: 16, written: 15)) {
            try w.addTensor(name: "b", type: .f32, shape: [4], bytes: [UInt8](repeating: 0, count: 15))
        }
        let invalid: [(String, TensorType, [Int])] = [
            ("five", .f32, [1, 1, 1, 1, 1]), ("none", .f32, []), ("zero", .f32, [3, 0]), ("negative", .f32, [-1]),
            ("blocks", .q8_0, [2, 48]), (String(repeating: "n", count: 64), .f32, [1]), ("", .f32, [1]),
        ]
        for (name, type, shape) in invalid {
            #expect(throws: WriterError.self, "\(name) \(shape)") { try w.addTensor(name: name, type: type, shape: shape) { _ in } }
        }
        #expect(throws: WriterError.self) { try w.setMetadata("m", .array(.uint32, [.uint32(1), .int32(2)])) }
        #expect(throws: WriterError.self) { try w.setMetadata("m", .array(.array, [.array(.bool, [.uint8(1)])])) }
        #expect(throws: WriterError.self) { try w.setMetadata("", .bool(true)) }
        #expect(throws: WriterError.self) { try w.setMetadata("general.alignment", .uint32(48)) }
        #expect(throws: WriterError.self) { try w.setMetadata("general.alignment", .int32(64)) }
        #expect(throws: WriterError.self) { try GGUFWriter(path: dir.file("y.gguf"), alignment: 24) }
        #expect(throws: WriterError.self) { try GGUFWriter(path: dir.file("y.gguf"), alignment: 0) }
        try w.finish()
        #expect(throws: WriterError.alreadyFinished(path: dir.file("x.gguf"))) { try w.finish() }
        #expect(throws: WriterError.alreadyFinished(path: dir.file("x.gguf"))) { try w.setMetadata("late", .bool(true)) }
        #expect(try GGUFFile(path: dir.file("x.gguf")).tensors.map(\.name) == ["a"])
    }

    @Test("an unwritable path is a cannotCreate error")
    func unwritablePath() throws {
        let w = try GGUFWriter(path: "/nonexistent-dir-\(UUID().uuidString)/x.gguf")
        #expect(throws: WriterError.self) { try w.finish() }
    }
}

struct SafetensorsWriterTests {
    static let specs: [(String, TensorType, [Int])] = [
        ("model.embed_tokens.weight", .bf16, [7, 3]),
        ("model.norm.weight", .f32, [5]),
        ("model.layers.0.mlp.experts.0.up_proj.weight", .f16, [2, 3, 4]),
        ("scalar", .f32, []),
        ("odd", .f16, [3]),
        ("model.layers.0.self_attn/with \"quotes\"", .bf16, [1, 1]),
    ]

    @Test("tensors and metadata round-trip; header padded with spaces to 8 bytes", arguments: [false, true])
    func roundTrip(useProducers: Bool) throws {
        let dir = try WriterScratch()
        let path = dir.file("model.safetensors")
        let w = SafetensorsWriter(path: path, metadata: ["format": "pt", "note": "a/b"])
        var expected: [String: [UInt8]] = [:]
        for (i, (name, type, shape)) in Self.specs.enumerated() {
            let b = pseudoRandomBytes(shape.reduce(1, *) * type.blockBytes, seed: UInt64(100 + i))
            expected[name] = b
            if useProducers {
                try w.addTensor(name: name, type: type, shape: shape) { sink in
                    try sink.write(Array(b.prefix(3)))
                    try sink.write(Array(b.dropFirst(3)))
                }
            } else {
                try w.addTensor(name: name, type: type, shape: shape, bytes: b)
            }
        }
        try w.finish()

        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect((8 + Int(headerLength)) % 8 == 0)
        let header = raw.dropFirst(8).prefix(Int(headerLength))
        #expect(header.first == UInt8(ascii: "{"))
        let trimmed = header.reversed().drop { $0 == 0x20 }
        #expect(trimmed.first == UInt8(ascii: "}"))
        #expect(header.count - trimmed.count < 8)
        #expect(raw.count == 8 + Int(headerLength) + expected.values.map(\.count).reduce(0, +))

        let s = try SafetensorsFile(path: path)
        #expect(s.names == Self.specs.map(\.0))
        #expect(s.metadata == ["format": "pt", "note": "a/b"])
        for (name, type, shape) in Self.specs {
            let t = try #require(s.tensors[name])
            #expect(t.type == type)
            #expect(t.shape == (shape.isEmpty ? [1] : shape))
            #expect(bytes(of: t) == expected[name], "\(name)")
        }
    }

    @Test("quantized types, bad sizes and reuse are refused")
    func refusals() throws {
        let dir = try WriterScratch()
        let w = SafetensorsWriter(path: dir.file("x.safetensors"))
        #expect(throws: WriterError.self) { try w.addTensor(name: "q", type: .q8_0, shape: [32], bytes: [UInt8](repeating: 0, count: 34)) }
        #expect(throws: WriterError.wrongByteCount(tensor: "f", expected: 8, written: 4)) {
            try w.addTensor(name: "f", type: .f32, shape: [2], bytes: [0, 0, 0, 0])
        }
        #expect(throws: WriterError.self) { try w.addTensor(name: "__metadata__", type: .f32, shape: [1]) { _ in } }
        #expect(throws: WriterError.self) { try w.addTensor(name: "neg", type: .f32, shape: [-2]) { _ in } }
        try w.addTensor(name: "p", type: .f16, shape: [4]) { sink in try sink.write([1, 2, 3]) }
        #expect(throws: WriterError.wrongByteCount(tensor: "p", expected: 8, written: 3)) { try w.finish() }
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.safetensors")))
        #expect(throws: WriterError.self) { try w.finish() }
    }

    @Test("an empty file (no tensors) is still valid")
    func empty() throws {
        let dir = try WriterScratch()
        let path = dir.file("e.safetensors")
        try SafetensorsWriter(path: path).finish()
        let s = try SafetensorsFile(path: path)
        #expect(s.tensors.isEmpty)
        let g = dir.file("e.gguf")
        try GGUFWriter(path: g).finish()
        let gg = try GGUFFile(path: g)
        #expect(gg.tensors.isEmpty && gg.metadata.isEmpty)
    }
}
