/// gpt-oss (`gpt_oss`; GGUF `gpt-oss`): grouped-query attention with q/k/v/o biases, one learned sink logit
/// per head in every softmax, a sliding window on every other layer (the even ones, `layer_types`), NeoX
/// rotary with YaRN as transformers defines it (no truncation of the correction range, cos and sin scaled by
/// the attention factor); a router with a bias whose top-k logits are softmaxed among themselves; experts
/// with biases and the clamped SwiGLU `(up + 1) · gate · σ(α · gate)`.
///
/// Checkpoints store the experts fused and in their own layouts, which `derivedTensors` turns into the
/// canonical stacked `[experts, rows, cols]` tensors once at load: bf16/f32 `gate_up_proj` `[E, hidden, 2·ffn]`
/// (inputs first, gate and up interleaved column by column) and `down_proj` `[E, ffn, hidden]`, or the
/// released MXFP4 form, `*_blocks` `[E, rows, cols/32, 16]` + `*_scales` `[E, rows, cols/32]` (rows are
/// outputs, gate and up interleaved row by row; two E2M1 codes per byte, element 2i in the low nibble).
/// GGUF files store gate and up apart, already in ggml's layout.
public enum GptOss: ArchitectureSpec {
    public static let modelType = "gpt_oss"
    public static let ggufArchitectures = ["gpt-oss"]
    public static let hfNaming = HFNaming.gptOss
    public static let ggufTensorAliases = [
        "ffn_norm.weight": "post_attention_norm.weight",
    ]

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        let expertFFN = try c.require(c.intermediateSize, "intermediate_size", path: path)
        var config = try baseConfig(hf: c, path: path, expertFFN: expertFFN, normTopK: true, qkNorm: .none,
                                    attentionBias: c.attentionBias ?? true)
        let layers = min(max(0, config.layerCount), ModelConfig.maxCount)
        if let window = c.slidingWindow {
            let types = c.layerTypes ?? (0 ..< layers).map { $0 % 2 == 0 ? "sliding_attention" : "full_attention" }
            guard types.count == layers else {
                throw FormatError.malformed(path: path, what: "'layer_types' lists \(types.count) layers, 'num_hidden_layers' is \(layers)")
            }
            if let odd = types.first(where: { $0 != "sliding_attention" && $0 != "full_attention" }) {
                throw FormatError.malformed(path: path, what: "'layer_types' entry '\(FormatError.clip(odd, limit: 40))' is not sliding_attention or full_attention")
            }
            config.slidingWindow = SlidingWindow(window: window, layers: Set(types.indices.filter { types[$0] == "sliding_attention" }))
        }
        try gptOssBlocks(&config, yarn: try rotaryScaling(hf: c, path: path).yarn)
        config.attentionOutputBias = c.attentionBias ?? true
        config.activation = .clampedSwiGLU(alpha: Float(c.swigluAlpha ?? 1.702), limit: Float(c.swigluLimit ?? 7))
        return config
    }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        var config = try baseConfig(gguf: m, normTopK: true, ropeStyle: .neox, qkNorm: .none,
                                    attentionBias: m.file.tensor(TensorName.block(0, "attn_q.bias")) != nil)
        config.attentionOutputBias = m.file.tensor(TensorName.block(0, "attn_output.bias")) != nil
        if let window = m.int("attention.sliding_window") {
            // llama.cpp's pattern for gpt-oss: sliding on even layers, full attention on odd ones.
            config.slidingWindow = SlidingWindow(window: window, layers: Set((0 ..< config.layerCount).filter { $0 % 2 == 0 }))
        }
        // GGUF keeps YaRN's factor but not its attention factor or truncation: llama.cpp derives the first
        // (0.1 ln factor + 1) inside its rope and truncates. We follow the released config and transformers:
        // that attention factor on cos and sin, no truncation.
        var yarn = try rotaryScaling(gguf: m)
        if var y = yarn {
            y.attentionFactor *= YaRN.mscale(y.factor)
            y.truncate = false
            yarn = y
        }
        try gptOssBlocks(&config, yarn: yarn)
        // llama.cpp hard-codes the activation's constants for gpt-oss (GGUF has no keys for them).
        config.activation = .clampedSwiGLU(alpha: 1.702, limit: 7)
        return config
    }

    private static func gptOssBlocks(_ c: inout ModelConfig, yarn: YaRN?) throws {
        c.yarn = yarn
        c.attentionSinks = true
        c.routerLogitBias = true
        c.expertBiases = true
        c.routing = RoutingRule(scoring: .softmaxOfChosen)
    }

    // MARK: - experts in the checkpoint's own layout → canonical stacked tensors

    public static func derivedTensors(checkpoint s: SafetensorsCheckpoint, config c: ModelConfig, path: String) throws -> DerivedTensors {
        var out = DerivedTensors()
        let (e, ffn, h) = (c.expertCount, c.expertFFN, c.hiddenSize)
        for l in 0 ..< c.layerCount where c.isMoELayer(l) {
            let p = "model.layers.\(l).mlp.experts."
            func need(_ name: String, _ shape: [Int]) throws -> TensorView {
                guard let t = s.tensor(p + name) else { throw FormatError.missingTensor(path: path, name: p + name) }
                guard t.shape == shape else { throw FormatError.shapeMismatch(path: t.file.path, tensor: t.name, expected: shape, found: t.shape) }
                return t
            }
            func floatLike(_ t: TensorView) throws {
                guard [.f32, .f16, .bf16].contains(t.type) else {
                    throw FormatError.unknownDType(path: t.file.path, tensor: t.name, dtype: t.type.description)
                }
            }
            if s.tensor(p + "gate_up_proj_blocks") != nil {
                // MXFP4: rows are outputs already; split gate/up rows and repack each block.
                let gub = try need("gate_up_proj_blocks", [e, 2 * ffn, h / 32, 16]), gus = try need("gate_up_proj_scales", [e, 2 * ffn, h / 32])
                let db = try need("down_proj_blocks", [e, h, ffn / 32, 16]), ds = try need("down_proj_scales", [e, h, ffn / 32])
                for t in [gub, gus, db, ds] where t.type != .i8 {
                    throw FormatError.malformed(path: t.file.path, what: "MXFP4 tensor '\(t.name)' is \(t.type), not U8")
                }
                guard h % 32 == 0, ffn % 32 == 0 else {
                    throw FormatError.malformed(path: path, what: "MXFP4 experts need hidden (\(h)) and ffn (\(ffn)) widths that are multiples of 32")
                }
                try out.add(TensorName.experts(l, .gate), mxfp4Rows(gub, gus, experts: e, rows: ffn, cols: h, first: 0, step: 2, path: path))
                try out.add(TensorName.experts(l, .up), mxfp4Rows(gub, gus, experts: e, rows: ffn, cols: h, first: 1, step: 2, path: path))
                try out.add(TensorName.experts(l, .down), mxfp4Rows(db, ds, experts: e, rows: h, cols: ffn, first: 0, step: 1, path: path))
                out.consumed.formUnion([gub.name, gus.name, db.name, ds.name])
            } else {
                let gu = try need("gate_up_proj", [e, h, 2 * ffn]), d = try need("down_proj", [e, ffn, h])
                try floatLike(gu)
                try floatLike(d)
                try out.add(TensorName.experts(l, .gate), transposed(gu, experts: e, inner: h, outer: 2 * ffn, first: 0, step: 2, path: path))
                try out.add(TensorName.experts(l, .up), transposed(gu, experts: e, inner: h, outer: 2 * ffn, first: 1, step: 2, path: path))
                try out.add(TensorName.experts(l, .down), transposed(d, experts: e, inner: ffn, outer: h, first: 0, step: 1, path: path))
                out.consumed.formUnion([gu.name, d.name])
            }
            let gub = try need("gate_up_proj_bias", [e, 2 * ffn])
            try floatLike(gub)
            try out.add(TensorName.block(l, "ffn_gate_exps.bias"), transposed(gub, experts: 1, inner: e, outer: 2 * ffn, first: 0, step: 2, path: path, transpose: false))
            try out.add(TensorName.block(l, "ffn_up_exps.bias"), transposed(gub, experts: 1, inner: e, outer: 2 * ffn, first: 1, step: 2, path: path, transpose: false))
            out.consumed.insert(gub.name)
        }
        return out
    }

    /// Columns `first, first + step, …` of each expert's `[inner, outer]` matrix, as rows: `[experts, outer/step,
    /// inner]` in the same element type. `transpose: false` takes the columns of each row instead
    /// (`[inner, outer]` → `[inner, outer/step]`, for the interleaved gate/up biases).
    static func transposed(_ t: TensorView, experts: Int, inner: Int, outer: Int, first: Int, step: Int, path: String,
                           transpose: Bool = true) throws -> TensorView {
        let size = t.type.blockBytes, rows = outer / step
        let shape = transpose ? [experts, rows, inner] : [inner, rows]
        let file = try MappedFile(anonymous: experts * rows * inner * size, name: "\(t.name) (converted in memory from \(path))") { dst in
            let src = t.bytes
            for x in 0 ..< experts {
                for i in 0 ..< inner {
                    for r in 0 ..< rows {
                        let from = ((x * inner + i) * outer + first + r * step) * size
                        let to = transpose ? ((x * rows + r) * inner + i) * size : (i * rows + r) * size
                        for b in 0 ..< size { dst[to + b] = src[from + b] }
                    }
                }
            }
        }
        return TensorView(name: t.name, type: t.type, shape: shape, bytes: try file.bytes(at: 0, count: file.size, what: t.name), file: file)
    }

    /// Rows `first, first + step, …` of an MXFP4 `blocks` `[experts, R, cols/32, 16]` + `scales`
    /// `[experts, R, cols/32]` pair, as ggml MXFP4 blocks (the exponent byte, then 16 bytes whose low nibbles
    /// are elements 0…15 and high nibbles 16…31), `[experts, rows, cols]`.
    static func mxfp4Rows(_ blocks: TensorView, _ scales: TensorView, experts: Int, rows: Int, cols: Int,
                          first: Int, step: Int, path: String) throws -> TensorView {
        let perRow = cols / 32, sourceRows = rows * step
        let name = blocks.name.replacingOccurrences(of: "_blocks", with: "")
        let file = try MappedFile(anonymous: experts * rows * perRow * 17, name: "\(name) (repacked in memory from \(path))") { dst in
            let b = blocks.bytes, s = scales.bytes
            var to = 0
            for x in 0 ..< experts {
                for r in 0 ..< rows {
                    let row = x * sourceRows + first + r * step
                    for k in 0 ..< perRow {
                        dst[to] = s[row * perRow + k]
                        let src = (row * perRow + k) * 16
                        for j in 0 ..< 16 {
                            // Source byte i holds elements 2i (low) and 2i+1 (high).
                            let lo = Int(j), hi = j + 16
                            let codeLo = (b[src + lo / 2] >> (4 * UInt8(lo & 1))) & 0xF
                            let codeHi = (b[src + hi / 2] >> (4 * UInt8(hi & 1))) & 0xF
                            dst[to + 1 + j] = codeLo | codeHi << 4
                        }
                        to += 17
                    }
                }
            }
        }
        return TensorView(name: name, type: .mxfp4, shape: [experts, rows, cols], bytes: try file.bytes(at: 0, count: file.size, what: name), file: file)
    }
}

/// Tensors an architecture builds at load from a checkpoint's own layout, by canonical name, and the
/// checkpoint tensors they replace (which need not be of a type the engine computes with).
public struct DerivedTensors: Sendable {
    public var tensors: [String: TensorView] = [:]
    public var consumed: Set<String> = []
    public init() {}
    mutating func add(_ canonical: String, _ t: TensorView) throws { tensors[canonical] = t }
}
