import Foundation
import MoEFormats
import Testing

// Random-weight tiny checkpoints of every supported architecture, in both file forms:
// a Hugging Face folder (config.json as transformers writes it for the model_type, safetensors in HF tensor
// names, a byte-level tokenizer.json) and a GGUF file with llama.cpp's metadata keys, tensor names and
// layouts (stacked experts; q/k rows permuted for `llama`). The tensor-name mapping here is written out
// independently of the engine's TensorNames.swift, so that the tests check it rather than repeat it.

enum TinyArch: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case mixtral, qwen2_moe, olmoe, qwen3_moe
    var testDescription: String { rawValue }
}

/// The shape of a tiny model and the rules its architecture follows.
struct TinySpec {
    let arch: TinyArch
    var vocab = 300, hidden = 64, layers = 2, heads = 4, kvHeads = 2, headDim = 16
    var experts = 8, topK = 2, expertFFN = 32, sharedFFN = 0, denseFFN = 96
    var denseLayers: Set<Int> = []
    var tied = false
    var normTopK = false
    var eps = 1e-6, ropeTheta = 1_000_000.0
    var qkvBias = false
    /// OLMoE's clip_qkv: q, k, v clamped to ±clip after the q/k norms.
    var clipQKV: Double?
    enum QKNorm { case none, perHead, whole }
    var qkNorm = QKNorm.none
    /// The dtype of the safetensors weights.
    var hfType = TensorType.bf16
    /// Whether the HF weights are split into two shards with an index.
    var sharded = false

    init(_ arch: TinyArch) {
        self.arch = arch
        switch arch {
        case .mixtral:
            normTopK = true; eps = 1e-5
        case .qwen2_moe:
            layers = 3; sharedFFN = 48; denseLayers = [1]; qkvBias = true; hfType = .f32
        case .olmoe:
            eps = 1e-5; ropeTheta = 10000; qkNorm = .whole; sharded = true
        case .qwen3_moe:
            // head_dim ≠ hidden / heads, as in the real Qwen3-MoE models (o_proj is then not square).
            normTopK = true; qkNorm = .perHead; tied = true; hfType = .f16; headDim = 24
        }
    }

    var qDim: Int { heads * headDim }
    var kvDim: Int { kvHeads * headDim }
    var moeBlock: String { arch == .mixtral ? "block_sparse_moe" : "mlp" }
    /// HF names of an expert's gate, up and down projections.
    var expertNames: (gate: String, up: String, down: String) {
        arch == .mixtral ? ("w1", "w3", "w2") : ("gate_proj", "up_proj", "down_proj")
    }
    func isMoE(_ layer: Int) -> Bool { !denseLayers.contains(layer) }
}

/// One tensor: name, shape (outermost first) and float values, all exactly representable in bf16 and f16.
struct TinyTensor {
    var name: String
    var shape: [Int]
    var values: [Float]
}

/// Deterministic random numbers (SplitMix64).
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// Rounds to the nearest bf16 value and flushes magnitudes below f16's normal range to zero, so the value
/// is exact in f32, bf16 and f16 alike: every file form then holds the very same numbers.
func representable(_ x: Float) -> Float {
    guard abs(x) >= Float(sign: .plus, exponent: -14, significand: 1) else { return 0 }
    let bits = x.bitPattern
    let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000
    return Float(bitPattern: rounded)
}

func bf16Bits(_ x: Float) -> UInt16 {
    precondition(x.bitPattern & 0xFFFF == 0, "\(x) is not a bf16 value")
    return UInt16(x.bitPattern >> 16)
}

/// IEEE half bits of a value that is exactly representable as a normal half (or zero).
func f16Bits(_ x: Float) -> UInt16 {
    if x == 0 { return x.sign == .minus ? 0x8000 : 0 }
    let b = x.bitPattern
    let sign = UInt16(b >> 31) << 15
    let exponent = Int((b >> 23) & 0xFF) - 127 + 15
    precondition(exponent > 0 && exponent < 31 && b & 0x1FFF == 0, "\(x) is not a normal f16 value")
    return sign | UInt16(exponent) << 10 | UInt16((b >> 13) & 0x3FF)
}

/// The bytes of `values` stored as `type` (f32, f16 or bf16).
func encode(_ values: [Float], as type: TensorType) -> Data {
    switch type {
    case .f32: return values.withUnsafeBytes { Data($0) }
    case .f16: return values.map(f16Bits).withUnsafeBytes { Data($0) }
    case .bf16: return values.map(bf16Bits).withUnsafeBytes { Data($0) }
    default: fatalError("tiny checkpoints store only float types")
    }
}

/// A tiny model: its description, config.json contents and weights in HF names.
struct TinyCheckpoint {
    var spec: TinySpec
    var config: [String: Any]
    var tensors: [TinyTensor]

    func tensor(_ name: String) -> TinyTensor? { tensors.first { $0.name == name } }

    /// Drops a tensor (which must exist).
    mutating func remove(_ name: String) {
        precondition(tensor(name) != nil, "no tensor \(name)")
        tensors.removeAll { $0.name == name }
    }

    /// Gives a tensor (which must exist) another shape, filled with ones.
    mutating func reshape(_ name: String, to shape: [Int]) {
        let i = tensors.firstIndex { $0.name == name }!
        tensors[i] = TinyTensor(name: name, shape: shape, values: [Float](repeating: 1, count: shape.reduce(1, *)))
    }

    init(_ arch: TinyArch, seed: UInt64 = 1) {
        let s = TinySpec(arch)
        spec = s
        config = Self.hfConfig(s)
        var rng = SplitMix(state: seed &* 7919 &+ UInt64(TinyArch.allCases.firstIndex(of: arch)!))
        var list: [TinyTensor] = []
        func add(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) {
            let n = shape.reduce(1, *)
            list.append(TinyTensor(name: name, shape: shape, values: (0 ..< n).map { _ in representable(offset + scale * rng.uniform()) }))
        }
        func linear(_ name: String, _ rows: Int, _ cols: Int, gain: Float = 1) {
            add(name, [rows, cols], scale: gain * (3 / Float(cols)).squareRoot())
        }
        let h = s.hidden
        // A tied embedding is also the output head: scaled like one, so that logits stay O(1) and float32
        // rounding stays well below the tests' absolute tolerances.
        add("model.embed_tokens.weight", [s.vocab, h], scale: s.tied ? (3 / Float(h)).squareRoot() : 1)
        for l in 0 ..< s.layers {
            let p = "model.layers.\(l)"
            add("\(p).input_layernorm.weight", [h], scale: 0.3, offset: 1)
            linear("\(p).self_attn.q_proj.weight", s.qDim, h)
            linear("\(p).self_attn.k_proj.weight", s.kvDim, h)
            linear("\(p).self_attn.v_proj.weight", s.kvDim, h)
            if s.qkvBias {
                add("\(p).self_attn.q_proj.bias", [s.qDim], scale: 0.3)
                add("\(p).self_attn.k_proj.bias", [s.kvDim], scale: 0.3)
                add("\(p).self_attn.v_proj.bias", [s.kvDim], scale: 0.3)
            }
            linear("\(p).self_attn.o_proj.weight", h, s.qDim)
            switch s.qkNorm {
            case .none: break
            case .perHead:
                add("\(p).self_attn.q_norm.weight", [s.headDim], scale: 0.3, offset: 1)
                add("\(p).self_attn.k_norm.weight", [s.headDim], scale: 0.3, offset: 1)
            case .whole:
                add("\(p).self_attn.q_norm.weight", [s.qDim], scale: 0.3, offset: 1)
                add("\(p).self_attn.k_norm.weight", [s.kvDim], scale: 0.3, offset: 1)
            }
            add("\(p).post_attention_layernorm.weight", [h], scale: 0.3, offset: 1)
            if s.isMoE(l) {
                linear("\(p).\(s.moeBlock).gate.weight", s.experts, h, gain: 2) // decisive routing
                let n = s.expertNames
                for e in 0 ..< s.experts {
                    let ep = "\(p).\(s.moeBlock).experts.\(e)"
                    linear("\(ep).\(n.gate).weight", s.expertFFN, h)
                    linear("\(ep).\(n.up).weight", s.expertFFN, h)
                    linear("\(ep).\(n.down).weight", h, s.expertFFN)
                }
                if s.sharedFFN > 0 {
                    linear("\(p).mlp.shared_expert.gate_proj.weight", s.sharedFFN, h)
                    linear("\(p).mlp.shared_expert.up_proj.weight", s.sharedFFN, h)
                    linear("\(p).mlp.shared_expert.down_proj.weight", h, s.sharedFFN)
                    linear("\(p).mlp.shared_expert_gate.weight", 1, h)
                }
            } else {
                linear("\(p).mlp.gate_proj.weight", s.denseFFN, h)
                linear("\(p).mlp.up_proj.weight", s.denseFFN, h)
                linear("\(p).mlp.down_proj.weight", h, s.denseFFN)
            }
        }
        add("model.norm.weight", [h], scale: 0.3, offset: 1)
        if !s.tied { linear("lm_head.weight", s.vocab, h) }
        tensors = list
    }

    /// config.json with the field names and values transformers writes for each model_type.
    static func hfConfig(_ s: TinySpec) -> [String: Any] {
        var c: [String: Any] = [
            "vocab_size": s.vocab, "hidden_size": s.hidden, "num_hidden_layers": s.layers,
            "num_attention_heads": s.heads, "num_key_value_heads": s.kvHeads, "hidden_act": "silu",
            "max_position_embeddings": 4096, "initializer_range": 0.02, "rms_norm_eps": s.eps, "use_cache": true,
            "tie_word_embeddings": s.tied, "rope_theta": s.ropeTheta, "attention_dropout": 0.0,
            "num_experts_per_tok": s.topK, "output_router_logits": false, "router_aux_loss_coef": 0.001,
            "bos_token_id": TinyTokenizer.endOfText, "eos_token_id": TinyTokenizer.endOfText,
            "torch_dtype": s.hfType == .f32 ? "float32" : s.hfType == .f16 ? "float16" : "bfloat16",
            "transformers_version": "4.51.3",
        ]
        switch s.arch {
        case .mixtral:
            c["architectures"] = ["MixtralForCausalLM"]
            c["model_type"] = "mixtral"
            c["intermediate_size"] = s.expertFFN
            c["num_local_experts"] = s.experts
            c["head_dim"] = NSNull()
            c["sliding_window"] = NSNull()
            c["router_jitter_noise"] = 0.0
        case .qwen2_moe:
            c["architectures"] = ["Qwen2MoeForCausalLM"]
            c["model_type"] = "qwen2_moe"
            c["intermediate_size"] = s.denseFFN
            c["moe_intermediate_size"] = s.expertFFN
            c["shared_expert_intermediate_size"] = s.sharedFFN
            c["num_experts"] = s.experts
            c["norm_topk_prob"] = s.normTopK
            c["decoder_sparse_step"] = 1
            c["mlp_only_layers"] = s.denseLayers.sorted()
            c["use_sliding_window"] = false
            c["sliding_window"] = 4096
            c["max_window_layers"] = s.layers
            c["rope_scaling"] = NSNull()
        case .olmoe:
            c["architectures"] = ["OlmoeForCausalLM"]
            c["model_type"] = "olmoe"
            c["intermediate_size"] = s.expertFFN
            c["num_experts"] = s.experts
            c["norm_topk_prob"] = s.normTopK
            c["clip_qkv"] = s.clipQKV ?? NSNull()
            c["attention_bias"] = false
            c["rope_scaling"] = NSNull()
            c["pad_token_id"] = 1
        case .qwen3_moe:
            c["architectures"] = ["Qwen3MoeForCausalLM"]
            c["model_type"] = "qwen3_moe"
            c["head_dim"] = s.headDim
            c["intermediate_size"] = s.denseFFN
            c["moe_intermediate_size"] = s.expertFFN
            c["num_experts"] = s.experts
            c["norm_topk_prob"] = s.normTopK
            c["decoder_sparse_step"] = 1
            c["mlp_only_layers"] = s.denseLayers.sorted()
            c["attention_bias"] = false
            c["use_sliding_window"] = false
            c["sliding_window"] = NSNull()
            c["max_window_layers"] = s.layers
            c["rope_scaling"] = NSNull()
        }
        return c
    }

    // MARK: Hugging Face folder

    func writeHF(to dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: dir + "/config.json"))
        try TinyTokenizer.json().write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
        if spec.sharded {
            let half = tensors.count / 2
            let shards = [Array(tensors[..<half]), Array(tensors[half...])]
            var map: [String: String] = [:]
            var total = 0
            for (i, shard) in shards.enumerated() {
                let name = "model-0000\(i + 1)-of-00002.safetensors"
                let w = SafetensorsWriter(path: dir + "/" + name, metadata: ["format": "pt"])
                for t in shard {
                    try w.addTensor(name: t.name, type: spec.hfType, shape: t.shape, data: encode(t.values, as: spec.hfType))
                    map[t.name] = name
                    total += t.values.count * spec.hfType.blockBytes
                }
                try w.finish()
            }
            let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": map]
            try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys])
                .write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        } else {
            let w = SafetensorsWriter(path: dir + "/model.safetensors", metadata: ["format": "pt"])
            for t in tensors {
                try w.addTensor(name: t.name, type: spec.hfType, shape: t.shape, data: encode(t.values, as: spec.hfType))
            }
            try w.finish()
        }
    }

    // MARK: GGUF

    /// The GGUF contents llama.cpp's convert_hf_to_gguf.py would produce (metadata keys, tensor names, stacked
    /// experts, q/k permutation for `llama`), as a plan that tests may alter before writing.
    func ggufPlan(permuteLlamaQK: Bool = true, sharedGateAs1D: Bool = true) -> GGUFPlan {
        let s = spec
        let arch: String
        switch s.arch {
        case .mixtral: arch = "llama"
        case .qwen2_moe: arch = "qwen2moe"
        case .olmoe: arch = "olmoe"
        case .qwen3_moe: arch = "qwen3moe"
        }
        var meta: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("general.name", .string("tiny-\(s.arch.rawValue)")),
            ("\(arch).block_count", .uint32(UInt32(s.layers))),
            ("\(arch).context_length", .uint32(4096)),
            ("\(arch).embedding_length", .uint32(UInt32(s.hidden))),
            ("\(arch).feed_forward_length", .uint32(UInt32(s.arch == .mixtral || s.arch == .olmoe ? s.expertFFN : s.denseFFN))),
            ("\(arch).attention.head_count", .uint32(UInt32(s.heads))),
            ("\(arch).attention.head_count_kv", .uint32(UInt32(s.kvHeads))),
            ("\(arch).rope.freq_base", .float32(Float(s.ropeTheta))),
            ("\(arch).attention.layer_norm_rms_epsilon", .float32(Float(s.eps))),
            ("\(arch).expert_count", .uint32(UInt32(s.experts))),
            ("\(arch).expert_used_count", .uint32(UInt32(s.topK))),
            ("general.file_type", .uint32(32)), // MOSTLY_BF16
        ]
        switch s.arch {
        case .mixtral:
            meta += [("llama.vocab_size", .uint32(UInt32(s.vocab))), ("llama.rope.dimension_count", .uint32(UInt32(s.headDim)))]
        case .qwen2_moe:
            meta += [("qwen2moe.expert_feed_forward_length", .uint32(UInt32(s.expertFFN))),
                     ("qwen2moe.expert_shared_feed_forward_length", .uint32(UInt32(s.sharedFFN)))]
        case .olmoe:
            if let clip = s.clipQKV { meta.append(("olmoe.attention.clamp_kqv", .float32(Float(clip)))) }
        case .qwen3_moe:
            meta += [("qwen3moe.attention.key_length", .uint32(UInt32(s.headDim))),
                     ("qwen3moe.attention.value_length", .uint32(UInt32(s.headDim))),
                     ("qwen3moe.expert_feed_forward_length", .uint32(UInt32(s.expertFFN)))]
        }
        meta += TinyTokenizer.ggufMetadata(pre: s.arch == .olmoe ? "olmo" : s.arch == .mixtral ? "gpt-2" : "qwen2")

        // Tensor types as a bf16 conversion has them: 1-D and router weights f32; here experts and the
        // embedding f16 (so that path is exercised too), the rest bf16.
        func add(_ list: inout [GGUFPlan.Tensor], _ name: String, _ shape: [Int], _ values: [Float], _ type: TensorType? = nil) {
            list.append(GGUFPlan.Tensor(name: name, type: type ?? (shape.count == 1 ? .f32 : .bf16), shape: shape, values: values))
        }
        func hf(_ name: String) -> TinyTensor {
            guard let t = tensor(name) else { fatalError("tiny checkpoint lacks \(name)") }
            return t
        }
        var out: [GGUFPlan.Tensor] = []
        add(&out, "token_embd.weight", [s.vocab, s.hidden], hf("model.embed_tokens.weight").values, .f16)
        for l in 0 ..< s.layers {
            let p = "model.layers.\(l)", b = "blk.\(l)"
            add(&out, "\(b).attn_norm.weight", [s.hidden], hf("\(p).input_layernorm.weight").values)
            var q = hf("\(p).self_attn.q_proj.weight").values, k = hf("\(p).self_attn.k_proj.weight").values
            if s.arch == .mixtral, permuteLlamaQK {
                q = llamaPermute(q, rows: s.qDim, cols: s.hidden, heads: s.heads, kvHeads: s.heads)
                k = llamaPermute(k, rows: s.kvDim, cols: s.hidden, heads: s.heads, kvHeads: s.kvHeads)
            }
            add(&out, "\(b).attn_q.weight", [s.qDim, s.hidden], q)
            add(&out, "\(b).attn_k.weight", [s.kvDim, s.hidden], k)
            add(&out, "\(b).attn_v.weight", [s.kvDim, s.hidden], hf("\(p).self_attn.v_proj.weight").values)
            if s.qkvBias {
                for (g, h) in [("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj")] {
                    let t = hf("\(p).self_attn.\(h).bias")
                    add(&out, "\(b).\(g).bias", t.shape, t.values)
                }
            }
            add(&out, "\(b).attn_output.weight", [s.hidden, s.qDim], hf("\(p).self_attn.o_proj.weight").values)
            if s.qkNorm != .none {
                for (g, h) in [("attn_q_norm", "q_norm"), ("attn_k_norm", "k_norm")] {
                    let t = hf("\(p).self_attn.\(h).weight")
                    add(&out, "\(b).\(g).weight", t.shape, t.values)
                }
            }
            add(&out, "\(b).ffn_norm.weight", [s.hidden], hf("\(p).post_attention_layernorm.weight").values)
            if s.isMoE(l) {
                add(&out, "\(b).ffn_gate_inp.weight", [s.experts, s.hidden], hf("\(p).\(s.moeBlock).gate.weight").values, .f32)
                let n = s.expertNames
                for (g, h, rows, cols) in [("gate", n.gate, s.expertFFN, s.hidden), ("up", n.up, s.expertFFN, s.hidden),
                                           ("down", n.down, s.hidden, s.expertFFN)] {
                    let stacked = (0 ..< s.experts).flatMap { hf("\(p).\(s.moeBlock).experts.\($0).\(h).weight").values }
                    add(&out, "\(b).ffn_\(g)_exps.weight", [s.experts, rows, cols], stacked, .f16)
                }
                if s.sharedFFN > 0 {
                    for (g, h) in [("gate", "gate_proj"), ("up", "up_proj"), ("down", "down_proj")] {
                        let t = hf("\(p).mlp.shared_expert.\(h).weight")
                        add(&out, "\(b).ffn_\(g)_shexp.weight", t.shape, t.values)
                    }
                    // HF [1, hidden]; convert_hf_to_gguf.py writes it 2-D, but ggml's gguf writer (llama-quantize,
                    // gguf-split) drops the trailing ne of 1, so most published files have it 1-D: [hidden].
                    add(&out, "\(b).ffn_gate_inp_shexp.weight", sharedGateAs1D ? [s.hidden] : [1, s.hidden],
                        hf("\(p).mlp.shared_expert_gate.weight").values, .f32)
                }
            } else {
                for (g, h) in [("gate", "gate_proj"), ("up", "up_proj"), ("down", "down_proj")] {
                    let t = hf("\(p).mlp.\(h).weight")
                    add(&out, "\(b).ffn_\(g).weight", t.shape, t.values)
                }
            }
        }
        add(&out, "output_norm.weight", [s.hidden], hf("model.norm.weight").values)
        if !s.tied { add(&out, "output.weight", [s.vocab, s.hidden], hf("lm_head.weight").values) }
        return GGUFPlan(metadata: meta, tensors: out)
    }
}

/// llama.cpp's `LlamaModel.permute` (convert_hf_to_gguf.py):
///     weights.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2).reshape(weights.shape)
/// with n_head replaced by n_head_kv when they differ (for k). Row (h, j, i) moves to (h, i, j): within each
/// head, rows i and i + half become the interleaved pair 2i, 2i + 1.
func llamaPermute(_ w: [Float], rows: Int, cols: Int, heads: Int, kvHeads: Int) -> [Float] {
    let n = heads != kvHeads ? kvHeads : heads
    let half = rows / n / 2
    var out = w
    for h in 0 ..< n {
        for i in 0 ..< half {
            for j in 0 ..< 2 {
                let dst = (h * half * 2 + i * 2 + j) * cols
                let src = (h * 2 * half + j * half + i) * cols
                out.replaceSubrange(dst ..< dst + cols, with: w[src ..< src + cols])
            }
        }
    }
    return out
}

/// What goes into a GGUF file, editable before writing.
struct GGUFPlan {
    struct Tensor {
        var name: String
        var type: TensorType
        var shape: [Int]
        var values: [Float]
    }
    var metadata: [(String, GGUFValue)]
    var tensors: [Tensor]

    mutating func setMetadata(_ key: String, _ value: GGUFValue?) {
        metadata.removeAll { $0.0 == key }
        if let value { metadata.append((key, value)) }
    }

    mutating func remove(_ name: String) {
        precondition(tensors.contains { $0.name == name }, "no tensor \(name)")
        tensors.removeAll { $0.name == name }
    }

    mutating func reshape(_ name: String, to shape: [Int]) {
        let i = tensors.firstIndex { $0.name == name }!
        tensors[i].shape = shape
        tensors[i].values = [Float](repeating: 1, count: shape.reduce(1, *))
    }

    func write(to path: String) throws {
        let w = try GGUFWriter(path: path)
        for (k, v) in metadata { try w.setMetadata(k, v) }
        for t in tensors {
            let data = encode(t.values, as: t.type)
            try w.addTensor(name: t.name, type: t.type, shape: t.shape) { sink in try sink.write(data) }
        }
        try w.finish()
    }
}

// MARK: Tokenizer

/// A minimal byte-level BPE vocabulary: the 256 byte tokens (GPT-2's byte-to-unicode spelling), 43 merges and
/// "<|endoftext|>" — 300 tokens.
enum TinyTokenizer {
    static let endOfText = 299

    /// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100 onwards.
    static let byteScalars: [Character] = {
        var printable = Array(33 ... 126) + Array(161 ... 172) + Array(174 ... 255)
        var scalars = printable
        var n = 0
        for b in 0 ..< 256 where !printable.contains(b) {
            printable.append(b)
            scalars.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, s) in zip(printable, scalars) { table[b] = Character(Unicode.Scalar(UInt32(s))!) }
        return table
    }()

    static let merges: [(String, String)] = {
        let space = String(byteScalars[32])
        let letters = "abcdefghijklmnopqrstuvwxyz".map(String.init)
        let pairs = ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "ou", "ed", "is"]
        return letters.map { (space, $0) } + pairs.map { (String($0.first!), String($0.last!)) }
    }()

    static let tokens: [String] = byteScalars.map(String.init) + merges.map { $0.0 + $0.1 } + ["<|endoftext|>"]

    static func json() throws -> Data {
        precondition(tokens.count == 300 && tokens[endOfText] == "<|endoftext|>")
        let vocab = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, $0) })
        let object: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": [["id": endOfText, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false, "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": merges.map { [$0.0, $0.1] }] as [String: Any],
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    static func ggufMetadata(pre: String) -> [(String, GGUFValue)] {
        [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, tokens.indices.map { .int32($0 == endOfText ? 3 : 1) })),
            ("tokenizer.ggml.merges", .array(.string, merges.map { .string($0.0 + " " + $0.1) })),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(endOfText))),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(endOfText))),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
    }
}

// MARK: Files on disk

/// A fresh folder under the temporary directory, removed when the value goes away.
final class TestDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("moe-model-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A checkpoint written in both forms: `folder` (HF) and `gguf`. `editHF` alters the checkpoint before the
/// folder is written; the GGUF comes from the unaltered checkpoint through `plan`, then `editGGUF`.
final class TinyFixture {
    let directory: TestDirectory
    let checkpoint: TinyCheckpoint
    var folder: String { directory.path + "/hf" }
    var gguf: String { directory.path + "/model.gguf" }

    init(_ arch: TinyArch, seed: UInt64 = 1,
         editHF: (inout TinyCheckpoint) -> Void = { _ in },
         plan: (TinyCheckpoint) -> GGUFPlan = { $0.ggufPlan() },
         editGGUF: (inout GGUFPlan) -> Void = { _ in }) throws {
        directory = try TestDirectory()
        let original = TinyCheckpoint(arch, seed: seed)
        var edited = original
        editHF(&edited)
        checkpoint = edited
        try edited.writeHF(to: folder)
        var p = plan(original)
        editGGUF(&p)
        try p.write(to: gguf)
    }
}
