import Foundation
import MoEFormats
import Testing

// Helpers of the bad-input tests: a scratch folder, byte builders for files that the writers refuse to make,
// small valid files to corrupt, and the checks every error must pass (typed, one line, names the file).

/// A fresh folder under the temporary directory, removed when the value goes away. `inMemory` puts it on
/// /dev/shm where there is one: the mutation tests write thousands of files, and a disk-backed /tmp can take
/// milliseconds per write.
final class BadInputScratch {
    let path: String
    init(inMemory: Bool = false) throws {
        let shm = "/dev/shm"
        let base = inMemory && FileManager.default.isWritableFile(atPath: shm) ? URL(fileURLWithPath: shm) : FileManager.default.temporaryDirectory
        path = base.appendingPathComponent("moe-badinput-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        // Atomic: a new file each time, never one a live mapping still points into.
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)), options: .atomic)
        return file(name)
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }
}

/// The FormatError `body` throws. Records an issue if it returns, or throws anything else.
func formatError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
    do {
        try body()
        Issue.record("expected a FormatError, but it loaded", sourceLocation: sourceLocation)
    } catch let e as FormatError {
        return e
    } catch {
        Issue.record("expected a FormatError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Checks what the user will read: one short line that starts with the file's path and says each phrase.
func expectMessage(_ error: FormatError?, path: String, _ phrases: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error else { return }   // formatError has recorded why
    let text = error.description
    #expect(text.hasPrefix(path + ": "), "'\(text)' should start with the path \(path)", sourceLocation: sourceLocation)
    #expect(!text.contains("\n") && !text.contains("\r"), "'\(text)' should be one line", sourceLocation: sourceLocation)
    #expect(text.count < path.count + 300, "'\(text)' is too long", sourceLocation: sourceLocation)
    for p in phrases { #expect(text.contains(p), "'\(text)' should say '\(p)'", sourceLocation: sourceLocation) }
}

// MARK: Hand-made GGUF bytes

/// Little-endian GGUF building blocks, for files the writer would refuse to make.
struct RawGGUF {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { raw(Array(s.utf8)) }
    /// A length-prefixed byte string, valid UTF-8 or not.
    mutating func raw(_ b: [UInt8]) { u64(UInt64(b.count)); bytes += b }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }

    /// magic, version, tensor count, metadata count.
    static func header(version: UInt32 = 3, tensors: UInt64, metadata: UInt64, magic: String = "GGUF") -> RawGGUF {
        var r = RawGGUF()
        r.bytes += Array(magic.utf8)
        r.u32(version)
        r.u64(tensors)
        r.u64(metadata)
        return r
    }

    /// One tensor info: `ne` innermost first, as the file stores it.
    mutating func tensorInfo(_ name: String, ne: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(ne.count))
        for d in ne { u64(d) }
        u32(type)
        u64(offset)
    }

    /// A whole file: no metadata, the given tensor infos, then `dataBytes` zero bytes of data at 32 alignment.
    static func file(tensors: [(name: String, ne: [UInt64], type: UInt32, offset: UInt64)], dataBytes: Int) -> [UInt8] {
        var r = header(tensors: UInt64(tensors.count), metadata: 0)
        for t in tensors { r.tensorInfo(t.name, ne: t.ne, type: t.type, offset: t.offset) }
        r.pad(to: 32)
        r.bytes += [UInt8](repeating: 0, count: dataBytes)
        return r.bytes
    }

    /// A file with one metadata entry whose type and value bytes are given raw (the value part only).
    static func oneValue(key: String = "k", type: UInt32, value: (inout RawGGUF) -> Void) -> [UInt8] {
        var r = header(tensors: 0, metadata: 1)
        r.string(key)
        r.u32(type)
        value(&r)
        return r.bytes
    }
}

// MARK: Hand-made safetensors bytes

/// A safetensors file from header text and a data section of `dataBytes` zero bytes.
func rawSafetensors(header: String, dataBytes: Int) -> [UInt8] {
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out += $0 }
    return out + Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes)
}

// MARK: Small valid files to corrupt

/// Deterministic pseudo-random numbers (SplitMix64) for tensor contents and mutations.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func bytes(_ n: Int) -> [UInt8] { (0 ..< n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

enum SmallFiles {
    /// Tensors of several types and ranks, as a GGUF holds them (outermost first).
    static let ggufTensors: [(String, TensorType, [Int])] = [
        ("token_embd.weight", .f16, [6, 32]),
        ("blk.0.attn_norm.weight", .f32, [32]),
        ("blk.0.ffn_gate_inp.weight", .f32, [2, 32]),
        ("blk.0.ffn_up_exps.weight", .q8_0, [2, 3, 32]),
        ("blk.0.ffn_down_exps.weight", .q4_K, [2, 1, 256]),
        ("output.weight", .bf16, [6, 32]),
    ]

    /// As `ggufTensors`, with the expert tensors in the low-bit 256-element types (Q2_K, Q3_K, IQ4_XS).
    static let ggufLowBitTensors: [(String, TensorType, [Int])] = [
        ("token_embd.weight", .f16, [6, 32]),
        ("blk.0.attn_norm.weight", .f32, [32]),
        ("blk.0.ffn_gate_inp.weight", .f32, [2, 32]),
        ("blk.0.ffn_gate_exps.weight", .q2_K, [2, 1, 256]),
        ("blk.0.ffn_up_exps.weight", .q3_K, [2, 2, 256]),
        ("blk.0.ffn_down_exps.weight", .iq4_xs, [2, 1, 256]),
        ("output.weight", .bf16, [6, 32]),
    ]

    /// The same model with tensors of the 32-element types of issue 15 (Q5_0, Q5_1, IQ4_NL, MXFP4).
    static let ggufTensors32: [(String, TensorType, [Int])] = [
        ("token_embd.weight", .q5_0, [6, 32]),
        ("blk.0.attn_norm.weight", .f32, [32]),
        ("blk.0.ffn_gate_inp.weight", .f32, [2, 32]),
        ("blk.0.ffn_up_exps.weight", .mxfp4, [2, 3, 32]),
        ("blk.0.ffn_down_exps.weight", .iq4_nl, [2, 1, 64]),
        ("output.weight", .q5_1, [6, 32]),
    ]

    /// A small valid GGUF: a complete Qwen3-MoE description (so that a weight store reads and checks it), a
    /// byte-level BPE tokenizer, metadata of several other kinds (a nested array) and tensors of several types.
    static func gguf(at path: String, tensors: [(String, TensorType, [Int])] = ggufTensors) throws {
        let w = try GGUFWriter(path: path)
        let metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("qwen3moe")), ("general.name", .string("tiny ✓")),
            ("qwen3moe.block_count", .uint32(1)), ("qwen3moe.embedding_length", .uint32(32)),
            ("qwen3moe.attention.head_count", .uint32(2)), ("qwen3moe.attention.head_count_kv", .uint32(1)),
            ("qwen3moe.attention.key_length", .uint32(16)), ("qwen3moe.expert_count", .uint32(2)),
            ("qwen3moe.expert_used_count", .uint32(1)), ("qwen3moe.expert_feed_forward_length", .uint32(32)),
            ("qwen3moe.rope.freq_base", .float32(10000)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("qwen2")),
            ("tokenizer.ggml.tokens", .array(.string, ["a", "b", "ab", "<s>", "c", "d"].map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, [1, 1, 1, 3, 1, 1].map { .int32($0) })),
            ("tokenizer.ggml.merges", .array(.string, [.string("a b")])),
            ("tokenizer.ggml.eos_token_id", .uint32(3)),
            ("t.nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])])),
        ]
        for (k, v) in metadata { try w.setMetadata(k, v) }
        var rng = SplitMix64(seed: 7)
        for (name, type, shape) in tensors {
            try w.addTensor(name: name, type: type, shape: shape, bytes: rng.bytes(type.byteCount(elements: shape.reduce(1, *))!))
        }
        try w.finish()
    }

    static let safetensorsTensors: [(String, TensorType, [Int])] = [
        ("model.embed_tokens.weight", .bf16, [6, 8]),
        ("model.norm.weight", .f32, [8]),
        ("model.layers.0.mlp.experts.0.up_proj.weight", .f16, [4, 8]),
        ("scalar", .f32, []),
    ]

    /// A small valid safetensors file.
    static func safetensors(at path: String, tensors: [(String, TensorType, [Int])] = safetensorsTensors) throws {
        let w = SafetensorsWriter(path: path, metadata: ["format": "pt"])
        var rng = SplitMix64(seed: 11)
        for (name, type, shape) in tensors {
            try w.addTensor(name: name, type: type, shape: shape, bytes: rng.bytes(shape.reduce(1, *) * type.blockBytes))
        }
        try w.finish()
    }

    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
}

/// Checks every tensor view lies inside its file's mapping, then reads every byte of it (a view reaching past
/// the mapping's pages would crash here).
@discardableResult
func touchAll(_ views: [TensorView], sourceLocation: SourceLocation = #_sourceLocation) -> UInt64 {
    var sum: UInt64 = 0
    for v in views {
        if let start = v.bytes.baseAddress, let base = v.file.base {
            let inside = start >= base && v.bytes.count <= v.file.size - (start - base)
            #expect(inside, "tensor \(v.name) lies outside its mapping", sourceLocation: sourceLocation)
            if !inside { continue }
        }
        for b in v.bytes { sum &+= UInt64(b) }
    }
    return sum
}
