import Foundation
import MoEFormats
import Testing

/// A corrupt safetensors file or checkpoint folder is refused with the FormatError naming the file and problem.
struct SafetensorsBadInputTests {
    /// Opens a safetensors file made of `header` and `dataBytes` zero bytes; returns the error it must throw.
    static func open(header: String, dataBytes: Int = 64, sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        try open(rawSafetensors(header: header, dataBytes: dataBytes), sourceLocation: sourceLocation)
    }

    static func open(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> (FormatError?, String) {
        let dir = try BadInputScratch()
        let path = try dir.write("model.safetensors", bytes)
        return (formatError({ _ = try SafetensorsFile(path: path) }, sourceLocation: sourceLocation), path)
    }

    static func tensor(_ dtype: String = "F32", _ shape: String = "[4]", _ offsets: String = "[0, 16]") -> String {
        #"{"w": {"dtype": "\#(dtype)", "shape": \#(shape), "data_offsets": \#(offsets)}}"#
    }

    @Test("a file too short for its header length, or a header length beyond the file")
    func headerLength() throws {
        let (short, shortPath) = try Self.open([1, 0, 0])
        guard case .truncated? = short else { Issue.record("\(String(describing: short))"); return }
        expectMessage(short, path: shortPath, "truncated", "header length")
        for length: UInt64 in [UInt64.max, 1 << 40, 200] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: length.littleEndian) { bytes += $0 }
            let (e, path) = try Self.open(bytes + Array("{}".utf8))
            guard case .truncated? = e else { Issue.record("\(length): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "header of \(length) bytes runs past the end of the file (10 bytes)")
        }
    }

    @Test("a header longer than the format's 100 MB limit is refused before it is read")
    func headerTooLarge() throws {
        let dir = try BadInputScratch()
        let path = dir.file("big.safetensors")
        // A sparse file: 150 MB that take no disk space.
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: withUnsafeBytes(of: UInt64(120_000_000).littleEndian) { Data($0) })
        try handle.truncate(atOffset: 150_000_000)
        try handle.close()
        let e = formatError { _ = try SafetensorsFile(path: path) }
        expectMessage(e, path: path, "header of 120000000 bytes is larger than the format allows (100000000)")
    }

    @Test("the header must be a JSON object", arguments: [#"{"w": {"dtype": "F32""#, "not json", "", #"[1, 2]"#, #""w""#])
    func headerJSON(header: String) throws {
        let (e, path) = try Self.open(header: header)
        guard case let .badJSON(p, _)? = e else { Issue.record("\(header): \(String(describing: e))"); return }
        #expect(p == path)
        expectMessage(e, path: path, "malformed JSON: safetensors header")
    }

    @Test("entries lacking dtype, shape or data_offsets, or with values of the wrong kind", arguments: [
        #"{"w": {"shape": [4], "data_offsets": [0, 16]}}"#, #"{"w": {"dtype": "F32", "data_offsets": [0, 16]}}"#,
        #"{"w": {"dtype": "F32", "shape": [4]}}"#, #"{"w": 5}"#, #"{"w": {"dtype": 0, "shape": [4], "data_offsets": [0, 16]}}"#,
        #"{"w": {"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}}"#, #"{"w": {"dtype": "F32", "shape": [4], "data_offsets": ["0", "16"]}}"#,
    ])
    func incompleteEntries(header: String) throws {
        let (e, path) = try Self.open(header: header)
        expectMessage(e, path: path, "tensor 'w'")
    }

    @Test("data_offsets out of order, of the wrong length, or negative")
    func offsetsOrder() throws {
        for offsets in ["[16, 0]", "[0]", "[0, 8, 16]", "[-16, 0]"] {
            let (e, path) = try Self.open(header: Self.tensor("F32", "[4]", offsets))
            guard case .malformed? = e else { Issue.record("\(offsets): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "tensor 'w' has data_offsets", "not [begin, end] in order")
        }
    }

    @Test("data_offsets past the end of the file")
    func offsetsPastEnd() throws {
        for (shape, offsets) in [("[4]", "[64, 80]"), ("[1099511627776]", "[0, 4398046511104]")] {
            let (e, path) = try Self.open(header: Self.tensor("F32", shape, offsets))
            guard case .truncated? = e else { Issue.record("\(offsets): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "tensor 'w' data ends at byte", "past the end of the file")
        }
    }

    @Test("sizes that do not add up: data_offsets span other than dtype size × elements")
    func sizeMismatch() throws {
        let (e, path) = try Self.open(header: Self.tensor("F32", "[3]", "[0, 16]"))
        #expect(e == .malformed(path: path, what: "tensor 'w' spans 16 bytes but F32[3] needs 12"))
        let (b, bPath) = try Self.open(header: Self.tensor("BF16", "[2, 4]", "[0, 32]"))
        expectMessage(b, path: bPath, "spans 32 bytes but BF16[2, 4] needs 16")
    }

    @Test("shapes that are negative or overflow")
    func badShapes() throws {
        for shape in ["[-4]", "[4294967296, 4294967296]", "[9223372036854775807, 2]"] {
            let (e, path) = try Self.open(header: Self.tensor("F32", shape, "[0, 16]"))
            guard case .malformed? = e else { Issue.record("\(shape): \(String(describing: e))"); continue }
            expectMessage(e, path: path, "tensor 'w'")
        }
    }

    @Test("numbers that fit no integer are refused, not rounded", arguments: ["[1.5]", "[1e300]", "[18446744073709551616]"])
    func nonIntegers(shape: String) throws {
        let (e, path) = try Self.open(header: Self.tensor("F32", shape, "[0, 4]"))
        expectMessage(e, path: path)
    }

    @Test("an unknown dtype is refused naming the tensor", arguments: ["I64", "F8_E4M3", "f32", ""])
    func unknownDType(dtype: String) throws {
        let (e, path) = try Self.open(header: Self.tensor(dtype, "[2]", "[0, 16]"))
        #expect(e == .unknownDType(path: path, tensor: "w", dtype: dtype))
        expectMessage(e, path: path, "tensor 'w' has unsupported type \(dtype)")
    }

    @Test("overlapping tensors")
    func overlap() throws {
        let header = #"{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F16", "shape": [4], "data_offsets": [8, 16]}}"#
        let (e, path) = try Self.open(header: header)
        expectMessage(e, path: path, "tensors 'a' and 'b' overlap")
    }

    @Test("metadata of the wrong kind is ignored; a valid file still loads")
    func lenientMetadata() throws {
        let dir = try BadInputScratch()
        let header = #"{"__metadata__": {"n": 5}, "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#
        let s = try SafetensorsFile(path: dir.write("m.safetensors", rawSafetensors(header: header, dataBytes: 16)))
        #expect(s.metadata.isEmpty && s.names == ["w"])
    }
}

/// A checkpoint folder: model.safetensors, or shards listed by model.safetensors.index.json.
struct ShardedCheckpointBadInputTests {
    static let first = "model-00001-of-00002.safetensors", second = "model-00002-of-00002.safetensors"

    /// A folder with two valid shards (tensors a, b in the first, c in the second) and the given index.
    static func folder(index: String?, writeSecond: Bool = true) throws -> BadInputScratch {
        let dir = try BadInputScratch()
        try SmallFiles.safetensors(at: dir.file(first), tensors: [("a", .f32, [2]), ("b", .f16, [4])])
        if writeSecond { try SmallFiles.safetensors(at: dir.file(second), tensors: [("c", .bf16, [3])]) }
        if let index { try dir.write("model.safetensors.index.json", text: index) }
        return dir
    }

    static func weightMap(_ map: [String: String]) -> String {
        let body = map.sorted { $0.key < $1.key }.map { #""\#($0.key)": "\#($0.value)""# }.joined(separator: ", ")
        return #"{"metadata": {"total_size": 22}, "weight_map": {\#(body)}}"#
    }

    static let good = ["a": first, "b": first, "c": second]

    @Test("the valid folder loads")
    func valid() throws {
        let dir = try Self.folder(index: Self.weightMap(Self.good))
        let c = try SafetensorsCheckpoint(directory: dir.path)
        #expect(c.tensorNames == ["a", "b", "c"] && c.shards.count == 2)
    }

    @Test("a missing shard is named, with the index that lists it")
    func missingShard() throws {
        let dir = try Self.folder(index: Self.weightMap(Self.good), writeSecond: false)
        let e = formatError { _ = try SafetensorsCheckpoint(directory: dir.path) }
        #expect(e == .missingShard(path: dir.file(Self.second), index: dir.file("model.safetensors.index.json")))
        expectMessage(e, path: dir.file(Self.second), "file not found", "model.safetensors.index.json")
    }

    @Test("the index must be JSON with a weight_map of names to files", arguments: [
        #"{"weight_map": {"a": "model-00001"#, #"{"metadata": {}}"#, #"{"weight_map": {"a": 1}}"#, "[]", "",
    ])
    func badIndex(index: String) throws {
        let dir = try Self.folder(index: index)
        let e = formatError { _ = try SafetensorsCheckpoint(directory: dir.path) }
        guard case .badJSON? = e else { Issue.record("\(index): \(String(describing: e))"); return }
        expectMessage(e, path: dir.file("model.safetensors.index.json"), "malformed JSON")
    }

    @Test("a tensor the index lists must be in the shard it names")
    func tensorAbsentFromShard() throws {
        var map = Self.good
        map["d"] = Self.second
        let absent = try Self.folder(index: Self.weightMap(map))
        let e = formatError { _ = try SafetensorsCheckpoint(directory: absent.path) }
        #expect(e == .missingTensor(path: absent.file(Self.second), name: "d"))
        // "a" exists, but in the other shard.
        map = Self.good
        map["a"] = Self.second
        let misplaced = try Self.folder(index: Self.weightMap(map))
        let m = formatError { _ = try SafetensorsCheckpoint(directory: misplaced.path) }
        #expect(m == .missingTensor(path: misplaced.file(Self.second), name: "a"))
    }

    @Test("shard names may not leave the folder", arguments: ["../x.safetensors", "/etc/passwd", "a/../../x", ""])
    func escapingShardName(name: String) throws {
        let dir = try Self.folder(index: Self.weightMap(["a": name]))
        let e = formatError { _ = try SafetensorsCheckpoint(directory: dir.path) }
        expectMessage(e, path: dir.file("model.safetensors.index.json"), "leaves the folder")
    }

    @Test("a tensor in two shards is ambiguous")
    func duplicateAcrossShards() throws {
        let dir = try BadInputScratch()
        try SmallFiles.safetensors(at: dir.file(Self.first), tensors: [("a", .f32, [2])])
        try SmallFiles.safetensors(at: dir.file(Self.second), tensors: [("a", .f32, [2])])
        let e = formatError { _ = try SafetensorsCheckpoint(directory: dir.path) }
        expectMessage(e, path: dir.file(Self.second), "tensor 'a' is also in \(Self.first)")
    }

    @Test("a folder without weights")
    func noWeights() throws {
        let dir = try BadInputScratch()
        let e = formatError { _ = try SafetensorsCheckpoint(directory: dir.path) }
        #expect(e == .missingFile(path: dir.file("model.safetensors")))
    }

    @Test("a corrupt shard is named")
    func corruptShard() throws {
        let dir = try Self.folder(index: Self.weightMap(Self.good))
        try dir.write(Self.second, Array(try SmallFiles.read(dir.file(Self.second)).prefix(20)))
        let e = formatError { _ = try SafetensorsCheckpoint(directory: dir.path) }
        expectMessage(e, path: dir.file(Self.second), "truncated")
    }
}
