import ArgumentParser
import Foundation
import MoEFormats
import MoEModel
import MoESynth
import ToolSupport

@main
struct MoESynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moe-synth",
        abstract: "Write a large, valid Qwen3-MoE or DeepSeek-V3 checkpoint with random weights, for testing memory and speed.",
        discussion: """
        No large model can be downloaded everywhere, so this makes one: a GGUF file
        that llama.cpp and moe load like any Qwen3-MoE (or DeepSeek-V3) model, or a Hugging Face
        safetensors folder. The weights are random, so the text such a model
        writes is meaningless; what is real is the size, the layout, the tensor
        types and the routing work, which memory budgets, expert caches and
        kernels are tested with.

        Shapes (vocabulary: the tokenizer's, 4096 tokens for the default one):
          tiny          2 layers, hidden 64, 8 experts top-2, expert FFN 32,
                        4 heads / 2 KV × 16: 0.65 M parameters (tests)
          olmoe-like    16 layers, hidden 2048, 64 experts top-8, expert FFN
                        1024, 16 heads / 4 KV × 128: 6.6 B parameters (1.0 B
                        active); Q4_0 3.5 GiB, Q8_0 6.6 GiB, bf16 12.4 GiB
          qwen3-30b-a3b-like
                        48 layers, hidden 2048, 128 experts top-8, expert FFN
                        768, 32 heads / 4 KV × 128: 29.9 B parameters (2.7 B
                        active); Q4_0 16.9 GB (15.7 GiB)
          deepseek-v3-like
                        DeepSeek-V3's layout (GGUF deepseek2): 32 layers (the
                        first dense, FFN 11264), hidden 2048, 64 experts top-6
                        in 8 groups top-4, sigmoid scores with a correction
                        bias, × 2.5, 2 shared experts, expert FFN 1408, 16 heads
                        of multi-head latent attention (q LoRA 768, latent 512,
                        nope 128, rope 64, value 128), YaRN × 4: 18 B parameters
                        (2.6 B active); Q4_0 ≈ 10 GB. GGUF only.
          tiny-deepseek 3 layers, hidden 64, 8 experts top-2, 1 shared, the
                        same parts at one Q4_0 block's width (tests)
          custom        needs --layers --hidden --experts --top-k --expert-ffn
                        --heads (--kv-heads defaults to --heads, --head-dim to
                        hidden / heads)
        The dimension options also override a named shape
        (e.g. --shape olmoe-like --layers 2).

        Weights: mean + std · N(0, 1) from a counter-based generator keyed by
        (seed, tensor name, row), rounded to bfloat16, then stored in --type by
        ggml's reference round-to-nearest quantizers (the bytes llama-quantize
        would write), so the codes have the statistics of real weights.
        Projections and output head: std 1/√(row length), the attention output
        a quarter of that. Token embeddings: std 1, so that each token's own
        identity, not the attention average, dominates the hidden state.
        RMSNorm and q/k-norm weights: 1 + 0.05 · N(0, 1). Routers: std
        2/√hidden, which spreads tokens over all experts (see --check).
        The same seed gives the same bytes whatever --threads is, and a GGUF
        file and a safetensors folder with the same seed hold the same numbers.

        GGUF, as llama.cpp's converter and llama-quantize lay it out: norms and
        routers F32; token embedding, attention and experts (stacked:
        blk.N.ffn_{gate,up,down}_exps.weight) in --type; the output head in
        --type, but Q8_0 for q4_0 and q4_1 (llama-quantize uses Q6_K, which has
        no quantizer here). Metadata: the full qwen3moe key set, with
        tokenizer.ggml.* copied from --vocab-from.
        safetensors: bf16, f16 or f32 throughout, HF names (one tensor per
        expert), shards of at most 4 GB with model.safetensors.index.json,
        config.json (qwen3_moe), tokenizer.json, tokenizer_config.json.
        DeepSeek shapes: llama.cpp's deepseek2 tensors (attn_q_a, attn_q_a_norm,
        attn_q_b, attn_kv_a_mqa, attn_kv_a_norm, attn_k_b, attn_v_b — the
        absorbed form, 3-D —, attn_output; ffn_* in dense layers; router,
        exp_probs_b.bias (F32), *_exps and *_shexp in MoE layers) and its key set
        (expert_gating_func 2, groups, q/kv LoRA ranks, *_mla lengths, YaRN).

        The output goes to OUT.partial, renamed to OUT when complete: after an
        error or Ctrl-C nothing is left. Memory stays at a few tens of MB
        whatever the model size. Progress goes to stderr.

        Examples:
          moe-synth --shape tiny --type f32 --format gguf --out /tmp/tiny.gguf
          nice -n 10 moe-synth --shape olmoe-like --type q4_0 --format gguf \
              --out ~/models/olmoe-like-Q4_0.gguf
          moe-synth --shape olmoe-like --type bf16 --format safetensors \
              --out ~/models/olmoe-like-bf16
        """
    )

    enum Shape: String, ExpressibleByArgument, CaseIterable {
        case tiny, olmoeLike = "olmoe-like", qwen3Like = "qwen3-30b-a3b-like", deepseekV3Like = "deepseek-v3-like"
        case tinyDeepSeek = "tiny-deepseek", custom
    }

    @Option(help: "tiny, olmoe-like, qwen3-30b-a3b-like, deepseek-v3-like, tiny-deepseek or custom.")
    var shape: Shape

    @Option(help: "Layers (override).") var layers: Int?
    @Option(help: "Hidden size (override).") var hidden: Int?
    @Option(help: "Experts per layer (override).") var experts: Int?
    @Option(name: .customLong("top-k"), help: "Experts used per token (override).") var topK: Int?
    @Option(name: .customLong("expert-ffn"), help: "Width of one expert's FFN (override).") var expertFFN: Int?
    @Option(help: "Attention heads (override).") var heads: Int?
    @Option(name: .customLong("kv-heads"), help: "Key/value heads (override).") var kvHeads: Int?
    @Option(name: .customLong("head-dim"), help: "Dimension of one head (override).") var headDim: Int?

    @Option(help: "Stored type: q4_0, q4_1, q8_0 (GGUF only), bf16, f16, f32.")
    var type: String

    @Option(help: "gguf (one file) or safetensors (a Hugging Face folder).")
    var format: String

    @Option(help: "Output file (gguf) or folder (safetensors).")
    var out: String

    @Option(name: .customLong("vocab-from"),
            help: "Tokenizer source: a folder with tokenizer.json and a .gguf file, or a .gguf file (default ../shared/models/tiny-qwen3moe).")
    var vocabFrom: String?

    @Option(help: "Random seed.") var seed: UInt64 = 1

    @Option(help: "Threads generating and quantizing (default: all processors). The output does not depend on it.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Replace OUT if it exists.") var force = false

    @Flag(help: "Afterwards, load the model and print how evenly 200 random tokens are routed over the experts.")
    var check = false

    func run() throws {
        do {
            try generate()
        } catch let e as ValidationError {
            throw e
        } catch SynthError.interrupted {
            printErr("moe-synth: interrupted; removed \(Synthesizer.partialPath(out))")
            throw ExitCode(130)
        } catch {
            printErr("moe-synth: error: \(String(describing: error))")
            throw ExitCode(1)
        }
    }

    private func generate() throws {
        guard let storedType = TensorType(name: type) else {
            throw SynthError.badShape("unknown --type '\(type)' (q4_0, q4_1, q8_0, bf16, f16, f32)")
        }
        guard let fileFormat = Synthesizer.Format(rawValue: format.lowercased()) else {
            throw SynthError.badShape("unknown --format '\(format)' (gguf, safetensors)")
        }
        guard threads > 0 else { throw SynthError.badShape("--threads must be positive") }
        if FileManager.default.fileExists(atPath: out), !force {
            throw SynthError.output(path: out, reason: "exists (add --force to replace it)")
        }
        let vocab = try VocabSource(path: try vocabPath())
        var synth = try Synthesizer(shape: try resolvedShape(), type: storedType, format: fileFormat, vocab: vocab,
                                    seed: seed, threads: threads)
        let s = synth.plan.shape
        synth.name = (s.deepSeek == nil ? "Synthetic Qwen3Moe " : "Synthetic DeepSeek-V3 ") + shape.rawValue
        let attention = s.deepSeek.map { d in
            "\(s.heads) heads of latent attention (q LoRA \(d.qLoraRank), latent \(d.kvLoraRank), nope \(d.nopeDim), rope \(d.ropeDim), "
                + "value \(d.valueDim)), \(d.sharedExperts) shared, \(d.denseLayers) dense, groups \(d.groupsUsed)/\(d.groups)"
        } ?? "\(s.heads)/\(s.kvHeads) heads × \(s.headDim)"
        printErr("moe-synth: \(shape.rawValue) \(storedType) \(fileFormat.rawValue): \(s.layers) layers, hidden \(s.hidden), "
            + "\(s.experts) experts top-\(s.topK), expert FFN \(s.expertFFN), \(attention), vocab \(synth.plan.vocab)")
        let count = { (n: Int) in n >= 1_000_000_000 ? String(format: "%.2f B", Double(n) / 1e9) : String(format: "%.2f M", Double(n) / 1e6) }
        printErr("moe-synth: \(count(synth.plan.parameterCount)) parameters (\(count(synth.plan.activeParameterCount)) active per token), "
            + "\(ProgressReporter.bytes(synth.tensorBytes)) of tensor data → \(out)")

        let interrupt = Interrupt(cleaning: Synthesizer.partialPath(out), tool: "moe-synth")
        let progress = ProgressReporter(total: synth.tensorBytes, tool: "moe-synth")
        try synth.write(to: out) { n in
            if interrupt.requested { throw SynthError.interrupted }
            progress.advance(n)
        }
        interrupt.stop()
        progress.finish()
        if check {
            printErr("moe-synth: checking: loading \(out)")
            let spread = try RoutingSpread.measure(try Model(path: out), tokens: 200, seed: seed)
            printErr("moe-synth: \(spread.summary)")
        }
    }

    /// The named shape with the dimension options applied.
    private func resolvedShape() throws -> SynthShape {
        var s: SynthShape
        switch shape {
        case .tiny: s = .tiny
        case .olmoeLike: s = .olmoeLike
        case .qwen3Like: s = .qwen3_30bA3bLike
        case .deepseekV3Like: s = .deepseekV3Like
        case .tinyDeepSeek: s = .tinyDeepSeek
        case .custom:
            guard let layers, let hidden, let experts, let topK, let expertFFN, let heads else {
                throw SynthError.badShape("--shape custom needs --layers, --hidden, --experts, --top-k, --expert-ffn and --heads")
            }
            s = SynthShape(layers: layers, hidden: hidden, experts: experts, topK: topK, expertFFN: expertFFN,
                           heads: heads, kvHeads: kvHeads ?? heads, headDim: headDim ?? hidden / max(1, heads))
        }
        if let layers { s.layers = layers }
        if let hidden { s.hidden = hidden }
        if let experts { s.experts = experts }
        if let topK { s.topK = topK }
        if let expertFFN { s.expertFFN = expertFFN }
        if let heads {
            s.heads = heads
            if s.deepSeek != nil { s.kvHeads = heads } // latent attention: a key per head
        }
        if let kvHeads { s.kvHeads = kvHeads }
        if let headDim { s.headDim = headDim }
        return s
    }

    /// --vocab-from, else `$MOE_SHARED/models/tiny-qwen3moe`, else ../shared/models/tiny-qwen3moe from the current
    /// folder, else beside the package the binary was built in (.build/<triple>/release/moe-synth).
    private func vocabPath() throws -> String {
        if let vocabFrom { return vocabFrom }
        let rel = "models/tiny-qwen3moe"
        var candidates: [String] = []
        if let shared = ProcessInfo.processInfo.environment["MOE_SHARED"] { candidates.append(shared + "/" + rel) }
        candidates.append(FileManager.default.currentDirectoryPath + "/../shared/" + rel)
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0 ..< 4 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.deletingLastPathComponent().appendingPathComponent("shared/" + rel).path)
        }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw SynthError.vocab(path: "../shared/" + rel, reason: "not found (give --vocab-from)")
    }
}

func printErr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
