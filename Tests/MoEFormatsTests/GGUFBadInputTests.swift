import Foundation
import MoEFormats
import Testing

/// A corrupt GGUF file is refused with the FormatError that names it and its problem, never a crash.
struct GGUFBadInputTests {
    static let f32: UInt32 = 0, q8_0: UInt32 = 8

    /// Opens `bytes` as a GGUF file and returns the error it must throw.
    static func open(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let dir = try BadInputScratch()
        let path = try dir.write("model.gguf", bytes)
        return (formatError({ _ = try GGUFFile(path: path) }, sourceLocation: sourceLocation), path)
    }

    @Test("wrong magic, and a version we do not read")
    func magicAndVersion() throws {
        let (e, path) = try Self.open(Array("hello, world".utf8))
        #expect(e == .badMagic(path: path, found: "'hell'"))
        expectMessage(e, path: path, "not a recognised model file")
        let (v, vPath) = try Self.open(RawGGUF.header(version: 1, tensors: 0, metadata: 0).bytes)
        #expect(v == .unsupportedVersion(path: vPath, version: 1))
        let (empty, emptyPath) = try Self.open([])
        guard case .truncated? = empty else { Issue.record("empty file: \(String(describing: empty))"); return }
        expectMessage(empty, path: emptyPath, "truncated")
    }

    @Test("a folder, a device or a FIFO is refused without reading (a FIFO would block an ordinary open)")
    func notARegularFile() throws {
        let dir = try BadInputScratch()
        let fifo = dir.file("fifo.gguf")
        #expect(mkfifo(fifo, 0o600) == 0)
        for path in [dir.path, "/dev/null", fifo] {
            let e = formatError { _ = try GGUFFile(path: path) }
            guard case .cannotOpen? = e else { Issue.record("\(path): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "cannot open")
        }
    }

    @Test("a truncated file: cut in the header, the metadata, the tensor infos or the data", arguments: [3, 10, 30, 120, 400, -1])
    func truncated(cutAt: Int) throws {
        let dir = try BadInputScratch()
        try SmallFiles.gguf(at: dir.file("whole.gguf"))
        let whole = try SmallFiles.read(dir.file("whole.gguf"))
        let cut = cutAt < 0 ? whole.count - 100 : cutAt   // -1: inside the last tensor's data
        let path = try dir.write("cut.gguf", Array(whole.prefix(cut)))
        let e = formatError { _ = try GGUFFile(path: path) }
        guard case .truncated? = e else { Issue.record("cut at \(cut): \(String(describing: e))"); return }
        expectMessage(e, path: path, "truncated")
        if cutAt < 0 { expectMessage(e, path: path, "'output.weight' data ends at byte", "past the end of the file (\(cut) bytes)") }
    }

    @Test("counts larger than the file can hold are refused at once, without allocating for them")
    func hugeCounts() throws {
        // Counts no model has are corrupt (malformed); counts a model could have mean the file was cut (truncated).
        for (tensors, metadata, corrupt) in [(UInt64.max, 0, true), (0, UInt64.max, true), (1 << 40, 1 << 40, true), (3, 0, false)]
            as [(UInt64, UInt64, Bool)] {
            let (e, path) = try Self.open(RawGGUF.header(tensors: tensors, metadata: metadata).bytes + [UInt8](repeating: 0, count: 64))
            switch e {
            case .malformed?: #expect(corrupt)
            case .truncated?: #expect(!corrupt)
            default: Issue.record("\(tensors), \(metadata): \(String(describing: e))")
            }
            expectMessage(e, path: path, "header claims \(tensors) tensors and \(metadata) metadata entries")
        }
    }

    @Test("string and array lengths past the end of the file")
    func hugeLengths() throws {
        var r = RawGGUF.header(tensors: 0, metadata: 1)
        r.u64(UInt64.max)   // key length
        let (key, keyPath) = try Self.open(r.bytes + [UInt8](repeating: 0, count: 16))
        expectMessage(key, path: keyPath, "truncated", "metadata key 0 claims 18446744073709551615 bytes")

        let string = RawGGUF.oneValue(type: 8) { $0.u64(1 << 40) }
        let (s, sPath) = try Self.open(string)
        expectMessage(s, path: sPath, "truncated", "value of 'k' claims 1099511627776 bytes")

        for count: UInt64 in [UInt64.max, 1 << 62, 100] {
            let array = RawGGUF.oneValue(key: "tokenizer.ggml.tokens", type: 9) { $0.u32(8); $0.u64(count); $0.string("a") }
            let (a, aPath) = try Self.open(array)
            expectMessage(a, path: aPath, "truncated", "array 'tokenizer.ggml.tokens' claims \(count) elements")
        }
    }

    @Test("unknown metadata value types, bad bools, arrays nested too deep")
    func badValues() throws {
        let (t, tPath) = try Self.open(RawGGUF.oneValue(type: 13) { $0.u8(0) })
        #expect(t == .malformed(path: tPath, what: "metadata 'k' has unknown value type 13"))
        let (a, aPath) = try Self.open(RawGGUF.oneValue(type: 9) { $0.u32(99); $0.u64(1); $0.u8(0) })
        expectMessage(a, path: aPath, "array 'k' has unknown element type 99")
        let (b, bPath) = try Self.open(RawGGUF.oneValue(type: 7) { $0.u8(2) })
        expectMessage(b, path: bPath, "'k' has bool value 2")
        // Five arrays deep, each holding the next.
        let deep = RawGGUF.oneValue(type: 9) { r in
            for _ in 0 ..< 5 { r.u32(9); r.u64(1) }
            r.u32(0); r.u64(0)
        }
        let (d, dPath) = try Self.open(deep)
        expectMessage(d, path: dPath, "nests arrays more than 4 deep")
    }

    @Test("keys, string values and tensor names must be valid UTF-8")
    func invalidUTF8() throws {
        var key = RawGGUF.header(tensors: 0, metadata: 1)
        key.raw([0x67, 0xFF, 0xFE])
        key.u32(0); key.u8(1)
        let (k, kPath) = try Self.open(key.bytes)
        expectMessage(k, path: kPath, "metadata key 0 is not valid UTF-8")
        let (v, vPath) = try Self.open(RawGGUF.oneValue(type: 8) { $0.raw([0xC3]) })   // a lone lead byte
        expectMessage(v, path: vPath, "value of 'k' is not valid UTF-8")
        var name = RawGGUF.header(tensors: 1, metadata: 0)
        name.raw([0x80, 0x41])
        let (n, nPath) = try Self.open(name.bytes + [UInt8](repeating: 0, count: 64))
        expectMessage(n, path: nPath, "tensor 0 name is not valid UTF-8")
    }

    @Test("dimension counts, zero or huge dimensions, element counts that overflow")
    func badDimensions() throws {
        let cases: [([UInt64], String)] = [
            ([], "has 0 dimensions"), ([1, 1, 1, 1, 1], "has 5 dimensions"), ([4, 0], "has dimension 0"),
            ([UInt64.max], "has dimension 18446744073709551615"), ([1 << 40, 1 << 40], "impossibly many elements"),
        ]
        for (ne, phrase) in cases {
            let (e, path) = try Self.open(RawGGUF.file(tensors: [("w", ne, Self.f32, 0)], dataBytes: 64))
            guard case .malformed? = e else { Issue.record("\(ne): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "tensor 'w'", phrase)
        }
    }

    @Test("an unknown ggml type number is refused naming the tensor; a known but unsupported one is read")
    func tensorTypes() throws {
        let (e, path) = try Self.open(RawGGUF.file(tensors: [("blk.0.ffn_up_exps.weight", [32], 99, 0)], dataBytes: 64))
        #expect(e == .unknownDType(path: path, tensor: "blk.0.ffn_up_exps.weight", dtype: "ggml type 99"))
        expectMessage(e, path: path, "'blk.0.ffn_up_exps.weight' has unsupported type ggml type 99")
        // Q8_1 (9) is recognised: the reader gives a view, and the weight store refuses it (ConfigBadInputTests).
        let dir = try BadInputScratch()
        let q8 = try dir.write("q8_1.gguf", RawGGUF.file(tensors: [("q", [32], 9, 0)], dataBytes: 64))
        #expect(try GGUFFile(path: q8).tensor("q")?.type == .q8_1)
    }

    @Test("sizes that do not add up: a row of partial blocks")
    func partialBlocks() throws {
        let (e, path) = try Self.open(RawGGUF.file(tensors: [("blk.0.attn_q.weight", [48, 2], Self.q8_0, 0)], dataBytes: 128))
        expectMessage(e, path: path, "'blk.0.attn_q.weight' row length 48 is not a multiple of the Q8_0 block size 32")
        // The 256-element types: a row of 128 (half a block) or 384 (one and a half).
        for (type, name) in [(UInt32(10), "Q2_K"), (11, "Q3_K"), (23, "IQ4_XS")] {
            for row: UInt64 in [128, 384] {
                let (e, path) = try Self.open(RawGGUF.file(tensors: [("blk.1.ffn_down_exps.weight", [row, 2], type, 0)], dataBytes: 1024))
                expectMessage(e, path: path, "'blk.1.ffn_down_exps.weight' row length \(row) is not a multiple of the \(name) block size 256")
            }
        }
        // The same for the 32-element types of issue 15 (ggml numbers: Q5_0 6, Q5_1 7, IQ4_NL 20, MXFP4 39).
        for (type, name) in [(UInt32(6), "Q5_0"), (7, "Q5_1"), (20, "IQ4_NL"), (39, "MXFP4")] {
            let (e, path) = try Self.open(RawGGUF.file(tensors: [("blk.0.ffn_up_exps.weight", [48, 2], type, 0)], dataBytes: 128))
            expectMessage(e, path: path, "'blk.0.ffn_up_exps.weight' row length 48 is not a multiple of the \(name) block size 32")
        }
    }

    @Test("offsets: unaligned, past the end of the file, data running past the end")
    func offsets() throws {
        let (u, uPath) = try Self.open(RawGGUF.file(tensors: [("w", [4], Self.f32, 16)], dataBytes: 64))
        expectMessage(u, path: uPath, "'w' offset 16 is not a multiple of the alignment 32")
        for offset: UInt64 in [1 << 40, UInt64.max & ~31, UInt64(Int.max) & ~31, 64] {
            let (e, path) = try Self.open(RawGGUF.file(tensors: [("w", [4], Self.f32, offset)], dataBytes: 32))
            guard case .outOfBounds? = e else { Issue.record("offset \(offset): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "tensor 'w' data at offset \(offset)", "lies outside the file")
        }
        // 64 floats from the start of a 32-byte data section.
        let (t, tPath) = try Self.open(RawGGUF.file(tensors: [("w", [64], Self.f32, 0)], dataBytes: 32))
        guard case .truncated? = t else { Issue.record("\(String(describing: t))"); return }
        expectMessage(t, path: tPath, "tensor 'w' data ends at byte", "past the end of the file")
    }

    @Test("overlapping tensors and a name used twice")
    func overlapAndDuplicates() throws {
        let (o, oPath) = try Self.open(RawGGUF.file(tensors: [("a", [16], Self.f32, 0), ("b", [8], Self.f32, 32)], dataBytes: 128))
        expectMessage(o, path: oPath, "tensors 'a' and 'b' overlap")
        let (d, dPath) = try Self.open(RawGGUF.file(tensors: [("a", [8], Self.f32, 0), ("a", [8], Self.f32, 32)], dataBytes: 64))
        expectMessage(d, path: dPath, "tensor 'a' appears twice")
    }

    @Test("general.alignment must be a power of two of sensible size", arguments: [UInt32(48), 0, 1 << 31])
    func badAlignment(alignment: UInt32) throws {
        let (e, path) = try Self.open(RawGGUF.oneValue(key: "general.alignment", type: 4) { $0.u32(alignment) })
        expectMessage(e, path: path, "general.alignment must be a power of two", "found \(alignment)")
    }

    @Test("names from the file are shortened and escaped: the message stays one short line")
    func hostileNames() throws {
        let name = "evil\nname\r" + String(repeating: "x", count: 5000)
        let (e, path) = try Self.open(RawGGUF.file(tensors: [(name, [32], 99, 0)], dataBytes: 64))
        expectMessage(e, path: path, "'evil\\u{a}name\\u{d}xxx", "…'")
        let long = "k" + String(repeating: "é", count: 300)
        let (v, vPath) = try Self.open(RawGGUF.oneValue(key: long, type: 13) { $0.u8(0) })
        expectMessage(v, path: vPath, "has unknown value type 13")
    }
}
