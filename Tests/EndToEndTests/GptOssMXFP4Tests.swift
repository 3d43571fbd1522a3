import Foundation
import MoEFormats
import MoEKernels
import MoEModel
import Testing

/// gpt-oss as people download it: experts in MXFP4. llama-quantize's MXFP4_MOE file of tiny-gpt-oss (experts
/// MXFP4, the rest Q8_0), and a Hugging Face folder in the released layout (`*_blocks` + `*_scales`, gate and
/// up interleaved row by row, two codes per byte) written here from that file's own bytes, against
/// golden-MXFP4.json (transformers run on the file's dequantized tensors).
@Suite(.enabled(if: GptOssMXFP4.available, "reference data ../shared/models/tiny-gpt-oss (round 2) is absent"))
struct GptOssMXFP4Tests {
    @Test("MXFP4 GGUF and released-layout folder: logits within 1e-3, greedy equal golden-MXFP4.json (which has no routing)",
          arguments: ["gguf", "folder"])
    func mxfp4(form: String) throws {
        let golden = try ArchitectureGolden.load(model: "tiny-gpt-oss", file: "golden-MXFP4.json")
        var scratch: URL?
        defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
        let path: String
        if form == "gguf" {
            path = GptOssMXFP4.gguf
        } else {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpt-oss-mxfp4-\(UUID().uuidString)")
            scratch = dir
            try GptOssMXFP4.writeReleasedFolder(from: GptOssMXFP4.gguf, to: dir.path)
            path = dir.path
        }
        try ArchitectureGoldenTests.checkLogitsAndRouting(path: path, source: "tiny-gpt-oss MXFP4 \(form)", golden: golden, routing: false)
        try ArchitectureGoldenTests.checkGreedy(path: path, source: "tiny-gpt-oss MXFP4 \(form)", golden: golden)
    }

    @Test("the folder's experts are repacked to the GGUF's bytes exactly")
    func repackedBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpt-oss-mxfp4-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try GptOssMXFP4.writeReleasedFolder(from: GptOssMXFP4.gguf, to: dir.path)
        let folder = try Model(path: dir.path), file = try Model(path: GptOssMXFP4.gguf)
        for (l, (a, b)) in zip(folder.layers, file.layers).enumerated() {
            for (x, (ea, eb)) in zip(a.experts, b.experts).enumerated() {
                for (p, (ma, mb)) in [("gate", (ea.gate, eb.gate)), ("up", (ea.up, eb.up)), ("down", (ea.down, eb.down))] {
                    #expect(ma.type == .mxfp4 && mb.type == .mxfp4 && ma.rows == mb.rows && ma.cols == mb.cols)
                    let same = memcmp(ma.base, mb.base, ma.rows * ma.rowBytes) == 0
                    #expect(same, "layer \(l) expert \(x) \(p): repacked bytes differ from the GGUF's")
                }
            }
        }
    }
}

extension GptOssMXFP4Tests {
    @Test("an MXFP4 scale tensor of the wrong shape is refused, naming it")
    func wrongScaleShape() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpt-oss-mxfp4-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try GptOssMXFP4.writeReleasedFolder(from: GptOssMXFP4.gguf, to: dir.path, shortScales: true)
        #expect {
            _ = try Model(path: dir.path)
        } throws: { error in
            "\(error)".contains("model.layers.0.mlp.experts.down_proj_scales") && "\(error)".contains("[16, 128, 1]")
        }
    }
}

enum GptOssMXFP4 {
    static var gguf: String { SharedData.root + "/models/tiny-gpt-oss/tiny-gpt-oss-MXFP4.gguf" }
    static var available: Bool { FileManager.default.fileExists(atPath: SharedData.root + "/models/tiny-gpt-oss/golden-MXFP4.json") }

    /// A Hugging Face gpt-oss folder in the released layout from a GGUF file: MXFP4 experts as `*_blocks` /
    /// `*_scales` (the inverse of the load-time repack), everything else dequantized to f32, config and
    /// tokenizer copied from tiny-gpt-oss.
    static func writeReleasedFolder(from ggufPath: String, to dir: String, shortScales: Bool = false) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = SharedData.root + "/models/tiny-gpt-oss/"
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try fm.copyItem(atPath: source + f, toPath: dir + "/" + f)
        }
        let file = try GGUFFile(path: ggufPath)
        let w = SafetensorsWriter(path: dir + "/model.safetensors")
        func floats(_ t: TensorView) -> [Float] {
            var out = [Float](repeating: 0, count: t.elementCount)
            out.withUnsafeMutableBufferPointer { Dequantize.row(type: t.type, src: t.bytes.baseAddress!, dst: $0.baseAddress!, count: t.elementCount) }
            return out
        }
        func addFloats(_ name: String, _ values: [Float], _ shape: [Int]) throws {
            try w.addTensor(name: name, type: .f32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }
        let plain = ["attn_norm.weight": "input_layernorm.weight", "post_attention_norm.weight": "post_attention_layernorm.weight",
                     "attn_q.weight": "self_attn.q_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
                     "attn_k.weight": "self_attn.k_proj.weight", "attn_k.bias": "self_attn.k_proj.bias",
                     "attn_v.weight": "self_attn.v_proj.weight", "attn_v.bias": "self_attn.v_proj.bias",
                     "attn_output.weight": "self_attn.o_proj.weight", "attn_output.bias": "self_attn.o_proj.bias",
                     "attn_sinks.weight": "self_attn.sinks", "ffn_gate_inp.weight": "mlp.router.weight",
                     "ffn_gate_inp.bias": "mlp.router.bias", "ffn_down_exps.bias": "mlp.experts.down_proj_bias"]
        var layers = Set<Int>()
        for t in file.tensors {
            switch t.name {
            case "token_embd.weight": try addFloats("model.embed_tokens.weight", floats(t), t.shape)
            case "output.weight": try addFloats("lm_head.weight", floats(t), t.shape)
            case "output_norm.weight": try addFloats("model.norm.weight", floats(t), t.shape)
            default:
                let parts = t.name.split(separator: ".", maxSplits: 2).map(String.init)
                guard parts.count == 3, let l = Int(parts[1]) else { continue }
                layers.insert(l)
                if let hf = plain[parts[2]] { try addFloats("model.layers.\(l).\(hf)", floats(t), t.shape) }
            }
        }
        for l in layers.sorted() {
            let p = "model.layers.\(l).mlp.experts."
            let gate = try #require(file.tensor("blk.\(l).ffn_gate_exps.weight")), up = try #require(file.tensor("blk.\(l).ffn_up_exps.weight"))
            let down = try #require(file.tensor("blk.\(l).ffn_down_exps.weight"))
            let (blocks, scales) = released([gate, up])
            let (e, rows, cols) = (gate.shape[0], gate.shape[1], gate.shape[2])
            try w.addTensor(name: p + "gate_up_proj_blocks", type: .i8, shape: [e, 2 * rows, cols / 32, 16], bytes: blocks)
            try w.addTensor(name: p + "gate_up_proj_scales", type: .i8, shape: [e, 2 * rows, cols / 32], bytes: scales)
            let (db, ds) = released([down])
            try w.addTensor(name: p + "down_proj_blocks", type: .i8, shape: [e, down.shape[1], down.shape[2] / 32, 16], bytes: db)
            if shortScales {  // one block's scale short per row: a scale tensor of the wrong shape
                let n = down.shape[2] / 32 - 1
                let kept = (0 ..< e * down.shape[1]).flatMap { ds[$0 * (n + 1) ..< $0 * (n + 1) + n] }
                try w.addTensor(name: p + "down_proj_scales", type: .i8, shape: [e, down.shape[1], n], bytes: kept)
            } else {
                try w.addTensor(name: p + "down_proj_scales", type: .i8, shape: [e, down.shape[1], down.shape[2] / 32], bytes: ds)
            }
            let gb = floats(try #require(file.tensor("blk.\(l).ffn_gate_exps.bias"))), ub = floats(try #require(file.tensor("blk.\(l).ffn_up_exps.bias")))
            var interleaved = [Float](repeating: 0, count: 2 * gb.count)
            for i in gb.indices { interleaved[2 * i] = gb[i]; interleaved[2 * i + 1] = ub[i] }
            try addFloats(p + "gate_up_proj_bias", interleaved, [e, 2 * rows])
        }
        try w.finish()
    }

    /// ggml MXFP4 tensors `[E, rows, cols]` (one, or gate and up whose rows are interleaved) in the released
    /// layout: per row, `cols/32` scale bytes and `cols/32` × 16 bytes of codes, element 2i in byte i's low nibble.
    static func released(_ tensors: [TensorView]) -> (blocks: [UInt8], scales: [UInt8]) {
        let (e, rows, cols) = (tensors[0].shape[0], tensors[0].shape[1], tensors[0].shape[2])
        let perRow = cols / 32
        var blocks: [UInt8] = [], scales: [UInt8] = []
        for x in 0 ..< e {
            for r in 0 ..< rows {
                for t in tensors {
                    for k in 0 ..< perRow {
                        let at = ((x * rows + r) * perRow + k) * 17
                        scales.append(t.bytes[at])
                        func code(_ i: Int) -> UInt8 { i < 16 ? t.bytes[at + 1 + i] & 0xF : t.bytes[at + 1 + i - 16] >> 4 }
                        for i in 0 ..< 16 { blocks.append(code(2 * i) | code(2 * i + 1) << 4) }
                    }
                }
            }
        }
        return (blocks, scales)
    }
}
