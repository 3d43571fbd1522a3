import Foundation
import MoEFormats
import MoEKernels

/// Writes a synthetic model: a GGUF file or a Hugging Face safetensors folder. Everything goes to
/// `<out>.partial` first and is renamed to `<out>` only when complete; on any error the partial output is
/// removed, so `<out>` is either absent, the previous contents, or a whole model.
public struct Synthesizer: Sendable {
    public enum Format: String, Sendable, CaseIterable { case gguf, safetensors }

    public let plan: SynthPlan
    public let type: TensorType
    public let format: Format
    public let vocab: VocabSource
    public var producer: TensorProducer
    /// `general.name` in GGUF files.
    public var name = "Synthetic Qwen3Moe"
    /// Largest shard of a safetensors folder, in bytes (4 GB).
    public var maxShardBytes = 4_000_000_000

    public init(shape: SynthShape, type: TensorType, format: Format, vocab: VocabSource, seed: UInt64, threads: Int,
                scales: SynthPlan.Scales = SynthPlan.Scales()) throws {
        let floatOnly: Set<TensorType> = [.f32, .f16, .bf16]
        guard format == .gguf ? Quantize.supportedTypes.contains(type) : floatOnly.contains(type) else {
            throw SynthError.badShape(format == .gguf
                ? "type \(type) cannot be written (q4_0, q4_1, q8_0, bf16, f16, f32)"
                : "safetensors holds bf16, f16 or f32, not \(type)")
        }
        if let problem = shape.problem(for: type) { throw SynthError.badShape(problem) }
        if format == .safetensors, shape.deepSeek != nil {
            throw SynthError.badShape("DeepSeek shapes are written as GGUF only (a safetensors folder would need kv_b_proj, the un-absorbed form)")
        }
        if format == .gguf, vocab.ggufMetadata == nil {
            throw SynthError.vocab(path: vocab.path, reason: "GGUF output needs a .gguf file to copy tokenizer.ggml.* metadata from")
        }
        if format == .safetensors, vocab.tokenizerJSON == nil {
            throw SynthError.vocab(path: vocab.path, reason: "safetensors output needs a folder with tokenizer.json")
        }
        plan = SynthPlan(shape: shape, vocab: vocab.vocabSize, scales: scales)
        self.type = type
        self.format = format
        self.vocab = vocab
        producer = TensorProducer(seed: seed, threads: threads)
    }

    /// The tensors as the output stores them.
    public var fileTensors: [FileTensor] {
        format == .gguf ? FileTensor.gguf(plan, type: type) : FileTensor.huggingFace(plan, type: type)
    }

    /// Bytes of tensor data to write (headers, metadata and JSON files come on top: a few MB at most).
    public var tensorBytes: Int { fileTensors.reduce(0) { $0 + $1.byteCount } }

    public static func partialPath(_ out: String) -> String { out + ".partial" }

    /// Writes the model to `out`, replacing a previous model there (a file for GGUF, a folder with config.json
    /// for safetensors; anything else is refused). `progress` is called with each chunk's byte count as it is
    /// written; it may throw (e.g. `SynthError.interrupted`) to stop and clean up.
    public func write(to out: String, progress: (Int) throws -> Void = { _ in }) throws {
        let partial = Self.partialPath(out)
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isDir) {
            let replaceable = format == .safetensors
                ? isDir.boolValue && fm.fileExists(atPath: out + "/config.json") : !isDir.boolValue
            guard replaceable else {
                throw SynthError.output(path: out, reason: isDir.boolValue ? "is a folder that is not a model folder; not replacing it"
                                                                           : "is a file; a safetensors model is a folder")
            }
        }
        try? fm.removeItem(atPath: partial) // left by a killed run
        do {
            // The writers call the tensors' producers (and so `progress`) before they return.
            try withoutActuallyEscaping(progress) { progress in
                switch format {
                case .gguf: try writeGGUF(partial, progress)
                case .safetensors: try writeFolder(partial, progress)
                }
            }
            // rename(2) replaces a file atomically; a folder must go first.
            if format == .safetensors, fm.fileExists(atPath: out) { try fm.removeItem(atPath: out) }
            guard rename(partial, out) == 0 else {
                throw SynthError.output(path: out, reason: "cannot rename \(partial): \(String(cString: strerror(errno)))")
            }
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
    }

    // MARK: - GGUF

    private func writeGGUF(_ path: String, _ progress: @escaping (Int) throws -> Void) throws {
        let w = try GGUFWriter(path: path)
        for (key, value) in ggufMetadata() { try w.setMetadata(key, value) }
        for t in fileTensors {
            try w.addTensor(name: t.name, type: t.type, shape: t.shape) { sink in
                try producer.write(t, to: sink, written: progress)
            }
        }
        try w.finish()
    }

    /// The metadata llama.cpp's convert_hf_to_gguf.py writes for a Qwen3-MoE (or DeepSeek-V3) model, in its
    /// order, with the tokenizer copied from the vocabulary source.
    public func ggufMetadata() -> [(String, GGUFValue)] {
        let s = plan.shape, a = s.architecture
        func u32(_ n: Int) -> GGUFValue { .uint32(UInt32(n)) }
        // What every architecture's header starts with, in llama.cpp's converter's order.
        let header: [(String, GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
            ("general.size_label", .string(sizeLabel)),
            ("\(a).block_count", u32(s.layers)),
            ("\(a).context_length", u32(s.contextLength)),
            ("\(a).embedding_length", u32(s.hidden)),
            ("\(a).feed_forward_length", u32(s.denseFFN)),
            ("\(a).attention.head_count", u32(s.heads)),
        ]
        var m: [(String, GGUFValue)]
        if let d = s.deepSeek {
            m = header + [
                // The converter's MLA form: one "KV head", the latent and the rotary key.
                ("\(a).attention.head_count_kv", u32(1)),
            ]
            if d.yarnFactor > 1 {
                m += [
                    ("\(a).rope.scaling.type", .string("yarn")),
                    ("\(a).rope.scaling.factor", .float32(Float(d.yarnFactor))),
                    ("\(a).rope.scaling.original_context_length", u32(d.yarnOriginalContext)),
                    ("\(a).rope.scaling.yarn_beta_fast", .float32(32)),
                    ("\(a).rope.scaling.yarn_beta_slow", .float32(1)),
                ]
            }
            m += [
                ("\(a).rope.freq_base", .float32(Float(s.ropeTheta))),
                ("\(a).attention.layer_norm_rms_epsilon", .float32(Float(s.rmsNormEps))),
                ("\(a).expert_count", u32(s.experts)),
                ("\(a).expert_used_count", u32(s.topK)),
                ("\(a).expert_group_count", u32(d.groups)),
                ("\(a).expert_group_used_count", u32(d.groupsUsed)),
                ("\(a).expert_gating_func", u32(2)), // sigmoid
                // key_length/value_length: what the cache holds per token (latent + rotary key; latent), the
                // head widths go in the *_mla keys.
                ("\(a).attention.key_length", u32(d.kvLoraRank + d.ropeDim)),
                ("\(a).attention.value_length", u32(d.kvLoraRank)),
                ("general.file_type", u32(GGUFModelMetadata.llamaFileType(type))),
                ("\(a).leading_dense_block_count", u32(d.denseLayers)),
                ("\(a).vocab_size", u32(plan.vocab)),
            ]
            if d.qLoraRank > 0 { m.append(("\(a).attention.q_lora_rank", u32(d.qLoraRank))) }
            m += [
                ("\(a).attention.kv_lora_rank", u32(d.kvLoraRank)),
                ("\(a).attention.key_length_mla", u32(d.qkDim)),
                ("\(a).attention.value_length_mla", u32(d.valueDim)),
                ("\(a).expert_feed_forward_length", u32(s.expertFFN)),
                ("\(a).expert_shared_count", u32(d.sharedExperts)),
                ("\(a).expert_weights_scale", .float32(d.routedScale)),
                ("\(a).expert_weights_norm", .bool(true)),
                ("\(a).rope.dimension_count", u32(d.ropeDim)),
            ]
            if d.yarnFactor > 1 { m.append(("\(a).rope.scaling.yarn_log_multiplier", .float32(Float(0.1 * d.mscaleAllDim)))) }
            m.append(("general.quantization_version", u32(2)))
        } else {
            m = header + [
                ("\(a).attention.head_count_kv", u32(s.kvHeads)),
                ("\(a).rope.freq_base", .float32(Float(s.ropeTheta))),
                ("\(a).attention.layer_norm_rms_epsilon", .float32(Float(s.rmsNormEps))),
                ("\(a).expert_count", u32(s.experts)),
                ("\(a).expert_used_count", u32(s.topK)),
                ("\(a).attention.key_length", u32(s.headDim)),
                ("\(a).attention.value_length", u32(s.headDim)),
                ("general.file_type", u32(GGUFModelMetadata.llamaFileType(type))),
                ("\(a).expert_feed_forward_length", u32(s.expertFFN)),
                ("general.quantization_version", u32(2)),
            ]
        }
        m += (vocab.ggufMetadata ?? []).map { ($0.key, $0.value) }
        return m
    }

    /// `general.size_label` as gguf-py computes it: "<experts>x<parameters of one expert path>", e.g. "64x287M".
    public var sizeLabel: String {
        GGUFModelMetadata.sizeLabel(experts: plan.shape.experts, parameters: plan.parameterCount,
                                    expertParameters: plan.expertParameterCount)
    }

    // MARK: - Hugging Face folder

    private func writeFolder(_ dir: String, _ progress: @escaping (Int) throws -> Void) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: false) } catch {
            throw SynthError.output(path: dir, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        try writeJSON(hfConfig(), to: dir + "/config.json")
        for source in [vocab.tokenizerJSON, vocab.tokenizerConfig].compactMap({ $0 }) {
            let target = dir + "/" + URL(fileURLWithPath: source).lastPathComponent
            try fm.copyItem(atPath: source, toPath: target)
            try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target) // the source may be read-only
        }
        let shards = shardPlan()
        var weightMap: [String: String] = [:]
        for (i, shard) in shards.enumerated() {
            let file = shards.count == 1 ? "model.safetensors"
                : String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            let w = SafetensorsWriter(path: dir + "/" + file, metadata: ["format": "pt"])
            for t in shard {
                weightMap[t.name] = file
                try w.addTensor(name: t.name, type: t.type, shape: t.shape) { sink in
                    try producer.write(t, to: sink, written: progress)
                }
            }
            try w.finish()
        }
        if shards.count > 1 {
            let index: [String: Any] = ["metadata": ["total_size": tensorBytes, "total_parameters": plan.parameterCount],
                                        "weight_map": weightMap]
            try writeJSON(index, to: dir + "/model.safetensors.index.json")
        }
    }

    /// Tensors in order, cut into shards of at most `maxShardBytes` (a bigger tensor gets a shard of its own).
    func shardPlan() -> [[FileTensor]] {
        var shards: [[FileTensor]] = [[]]
        var bytes = 0
        for t in fileTensors {
            if bytes + t.byteCount > maxShardBytes, !shards[shards.count - 1].isEmpty {
                shards.append([])
                bytes = 0
            }
            shards[shards.count - 1].append(t)
            bytes += t.byteCount
        }
        return shards
    }

    /// config.json as transformers 5 writes it for Qwen3MoeForCausalLM, plus the transformers 4 spellings
    /// (`num_experts`, `rope_theta`, `torch_dtype`) so that either version reads it.
    public func hfConfig() -> [String: Any] {
        let s = plan.shape
        let dtype = type == .bf16 ? "bfloat16" : type == .f16 ? "float16" : "float32"
        return [
            "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
            "attention_bias": false, "attention_dropout": 0.0, "decoder_sparse_step": 1, "mlp_only_layers": [Int](),
            "hidden_act": "silu", "initializer_range": 0.02, "output_router_logits": false, "router_aux_loss_coef": 0.001,
            "use_cache": true, "use_sliding_window": false, "sliding_window": NSNull(), "tie_word_embeddings": false,
            "bos_token_id": vocab.bosTokenId.map { $0 as Any } ?? NSNull(),
            "eos_token_id": vocab.eosTokenId.map { $0 as Any } ?? NSNull(),
            "pad_token_id": vocab.padTokenId.map { $0 as Any } ?? NSNull(),
            "dtype": dtype, "torch_dtype": dtype, "transformers_version": "5.17.0",
            "vocab_size": plan.vocab, "hidden_size": s.hidden, "intermediate_size": s.denseFFN,
            "num_hidden_layers": s.layers, "num_attention_heads": s.heads, "num_key_value_heads": s.kvHeads,
            "head_dim": s.headDim, "max_position_embeddings": s.contextLength, "rms_norm_eps": s.rmsNormEps,
            "rope_parameters": ["rope_theta": s.ropeTheta, "rope_type": "default"] as [String: Any], "rope_theta": s.ropeTheta,
            "num_local_experts": s.experts, "num_experts": s.experts, "num_experts_per_tok": s.topK,
            "moe_intermediate_size": s.expertFFN, "norm_topk_prob": true,
        ]
    }

    private func writeJSON(_ object: Any, to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        guard FileManager.default.createFile(atPath: path, contents: data + Data("\n".utf8)) else {
            throw SynthError.output(path: path, reason: "cannot write")
        }
    }
}
