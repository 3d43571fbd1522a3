import Foundation
import MoEFormats
import MoEStore
import Testing

/// Thousands of seeded corruptions of small valid files. Each must either load — and then every tensor view lies
/// inside the mapping and every byte of it can be read — or throw a FormatError whose message is one line
/// naming the file. A crash (a trap, a read outside the mapping) kills the test process: that is this test failing.
struct MutationTests {
    /// The ways to corrupt `original`, whose parsed header (what the mutations aim at) is its first `header` bytes.
    static func mutations(of original: [UInt8], header: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        var out: [[UInt8]] = []
        // Truncation at every byte of the header's start, then every few bytes to the end.
        for cut in Array(0 ..< min(64, original.count)) + Array(stride(from: 64, to: original.count, by: max(1, original.count / 300))) {
            out.append(Array(original.prefix(cut)))
        }
        // One to three bytes of the header set to random values.
        for _ in 0 ..< 1500 {
            var b = original
            for _ in 0 ... rng.below(3) { b[rng.below(header)] = UInt8(truncatingIfNeeded: rng.next()) }
            out.append(b)
        }
        // A count, length, offset or dimension (any u64 or u32 in the header, aligned or not) set to an extreme.
        let huge: [UInt64] = [.max, 1 << 63, 1 << 62, UInt64(Int.max), 1 << 40, 1 << 32, UInt64(original.count),
                              UInt64(original.count) - 1, 0, 5, 4096]
        let wide: [UInt32] = [.max, 1 << 31, 0, 5, 13, 31, 99, UInt32(original.count)]
        for i in 0 ..< 1500 {
            var b = original
            if i % 2 == 0 {
                let at = rng.below(header - 7), v = huge[rng.below(huge.count)]
                withUnsafeBytes(of: v.littleEndian) { for (k, x) in $0.enumerated() { b[at + k] = x } }
            } else {
                let at = rng.below(header - 3), v = wide[rng.below(wide.count)]
                withUnsafeBytes(of: v.littleEndian) { for (k, x) in $0.enumerated() { b[at + k] = x } }
            }
            out.append(b)
        }
        return out
    }

    /// Writes each mutation to `path`, opens it with `open`, and checks the outcome. Returns (loaded, refused).
    static func run(_ mutations: [[UInt8]], at path: String, open: (String) throws -> Void,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> (Int, Int) {
        var loaded = 0, refused = 0
        // Errors may name the file or, for a folder, another file in it.
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path + "/"
        for (i, bytes) in mutations.enumerated() {
            // Atomic: a new file each time, never the one an earlier mapping still points into.
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            do {
                try open(path)
                loaded += 1
            } catch let e as FormatError {
                refused += 1
                let text = e.description
                if !text.hasPrefix(folder) || text.contains("\n") || text.count > 400 {
                    Issue.record("mutation \(i): message \(text)", sourceLocation: sourceLocation)
                }
            } catch {
                Issue.record("mutation \(i): not a FormatError: \(type(of: error)) \(error)", sourceLocation: sourceLocation)
            }
        }
        return (loaded, refused)
    }

    @Test("mutated GGUF files load or are refused, never crash")
    func gguf() throws {
        let dir = try BadInputScratch(inMemory: true)
        try SmallFiles.gguf(at: dir.file("valid.gguf"))
        let original = try SmallFiles.read(dir.file("valid.gguf"))
        let header = try GGUFFile(path: dir.file("valid.gguf")).dataOffset
        let (loaded, refused) = try Self.run(Self.mutations(of: original, header: header, seed: 1), at: dir.file("m.gguf")) { path in
            // Everything a model load reads from the file: tensors, the model description, the tokenizer.
            let store = try WeightStore(path: path)
            touchAll(store.allTensors)
            _ = try store.tokenizerSpec()
        }
        #expect(loaded > 0 && refused > 1000, "loaded \(loaded), refused \(refused)")
    }

    @Test("mutated GGUF files with Q2_K, Q3_K and IQ4_XS tensors load or are refused, never crash")
    func ggufLowBit() throws {
        let dir = try BadInputScratch(inMemory: true)
        try SmallFiles.gguf(at: dir.file("valid.gguf"), tensors: SmallFiles.ggufLowBitTensors)
        let original = try SmallFiles.read(dir.file("valid.gguf"))
        let header = try GGUFFile(path: dir.file("valid.gguf")).dataOffset
        #expect(try WeightStore(path: dir.file("valid.gguf")).allTensors.contains { $0.type == .iq4_xs })
        let (loaded, refused) = try Self.run(Self.mutations(of: original, header: header, seed: 7), at: dir.file("m.gguf")) { path in
            let store = try WeightStore(path: path)
            touchAll(store.allTensors)
            _ = try store.tokenizerSpec()
        }
        #expect(loaded > 0 && refused > 1000, "loaded \(loaded), refused \(refused)")
    }

    @Test("mutated GGUF files with Q5_0, Q5_1, IQ4_NL and MXFP4 tensors load or are refused, never crash")
    func gguf32() throws {
        let dir = try BadInputScratch(inMemory: true)
        try SmallFiles.gguf(at: dir.file("valid.gguf"), tensors: SmallFiles.ggufTensors32)
        let original = try SmallFiles.read(dir.file("valid.gguf"))
        let header = try GGUFFile(path: dir.file("valid.gguf")).dataOffset
        let (loaded, refused) = try Self.run(Self.mutations(of: original, header: header, seed: 6), at: dir.file("m.gguf")) { path in
            let store = try WeightStore(path: path)
            touchAll(store.allTensors)
            _ = try store.tokenizerSpec()
        }
        #expect(loaded > 0 && refused > 1000, "loaded \(loaded), refused \(refused)")
    }

    @Test("mutated safetensors files load or are refused, never crash")
    func safetensors() throws {
        let dir = try BadInputScratch(inMemory: true)
        try SmallFiles.safetensors(at: dir.file("valid.safetensors"))
        let original = try SmallFiles.read(dir.file("valid.safetensors"))
        let header = 8 + Int(original.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let (loaded, refused) = try Self.run(Self.mutations(of: original, header: header, seed: 2), at: dir.file("m.safetensors")) { path in
            touchAll(Array(try SafetensorsFile(path: path).tensors.values))
        }
        #expect(loaded > 0 && refused > 1000, "loaded \(loaded), refused \(refused)")
    }

    @Test("mutated SentencePiece tokenizer.model files load or are refused, never crash")
    func sentencePieceModel() throws {
        let dir = try BadInputScratch(inMemory: true)
        let original = ProtoBytes.sentencePieceModel()
        // The whole file is protobuf: every byte is parsed.
        let (loaded, refused) = try Self.run(Self.mutations(of: original, header: original.count, seed: 5), at: dir.file("tokenizer.model")) { path in
            _ = try TokenizerSpec(sentencePieceModel: path)
        }
        #expect(loaded > 0 && refused > 1000, "loaded \(loaded), refused \(refused)")
    }

    @Test("mutated config.json and index files load or are refused, never crash")
    func configAndIndex() throws {
        let dir = try BadInputScratch(inMemory: true)
        let config = #"{"model_type": "qwen3_moe", "vocab_size": 6, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "num_experts": 2, "num_experts_per_tok": 1, "moe_intermediate_size": 4, "mlp_only_layers": [], "eos_token_id": [5]}"#
        let index = #"{"metadata": {"total_size": 4}, "weight_map": {"model.norm.weight": "model.safetensors", "scalar": "model.safetensors"}}"#
        try SmallFiles.safetensors(at: dir.file("model.safetensors"))
        try dir.write("model.safetensors.index.json", text: index)
        try dir.write("config.json", text: config)
        _ = try WeightStore(path: dir.path)   // the unmutated folder loads
        for (name, text, seed) in [("config.json", config, UInt64(3)), ("model.safetensors.index.json", index, 4)] {
            // The text is all header: every mutation aims at what is parsed.
            let mutations = Self.mutations(of: Array(text.utf8), header: text.utf8.count, seed: seed)
            let (loaded, refused) = try Self.run(mutations, at: dir.file(name)) { _ in
                touchAll(try WeightStore(path: dir.path).allTensors)
            }
            #expect(loaded > 0 && refused > 1000, "\(name): loaded \(loaded), refused \(refused)")
            try dir.write(name, text: text)
        }
    }
}
