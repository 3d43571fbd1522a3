import ArgumentParser
import Foundation
import MoEFormats
import MoEKernels
import MoEStore

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: architecture, shapes, tensor table, types, sizes and bytes per expert."
    )

    @Argument(help: "GGUF file or Hugging Face folder (not needed with --cpu).")
    var path: String?

    @Flag(help: "Print the kernel levels this CPU runs (generic, AVX2/NEON, AVX-512 VNNI), the one in use and the weight types each covers, then exit.")
    var cpu = false

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(help: "Omit the per-tensor table.")
    var summary = false

    struct TensorRow: Encodable {
        let name: String
        let type: String
        let shape: [Int]
        let bytes: Int
    }

    struct Output: Encodable {
        let path: String
        let format: String
        let architecture: String
        let config: [String: String]
        let tensors: [TensorRow]?
        let total_bytes: Int
        let expert_bytes: Int
        let bytes_per_expert: Int
        let non_expert_bytes: Int
        let experts: Int
    }

    struct KernelLevel: Encodable {
        let level: Int
        let features: String
        let in_use: Bool
    }

    struct RepackedLayout: Encodable {
        let name: String
        let type: String
        let serves_prefill: Bool
    }

    struct CPUReport: Encodable {
        let kernel_levels: [KernelLevel]
        let repacked_layouts: [RepackedLayout]
    }

    func validate() throws {
        if path == nil && !cpu { throw ValidationError("give a model path (or --cpu for the kernels this CPU runs)") }
    }

    func run() throws {
        if cpu {
            let levels = Kernels.levels.map { KernelLevel(level: $0, features: Kernels.features(level: $0) ?? "?", in_use: $0 == Kernels.levels.upperBound) }
            // The repacked layouts this CPU's kernels use, one per type (RepackedRows.Layout.forType).
            let layouts = TensorType.allCases.compactMap { RepackedRows.Layout.forType($0) }
                .map { RepackedLayout(name: $0.name, type: $0.type.description, serves_prefill: $0.servesAll) }
            if json {
                try printJSON(CPUReport(kernel_levels: levels, repacked_layouts: layouts))
                return
            }
            for l in levels { print("level \(l.level): \(l.features)\(l.in_use ? "  (in use)" : "")") }
            let replacing = layouts.filter(\.serves_prefill).map(\.name), decodeOnly = layouts.filter { !$0.serves_prefill }.map(\.name)
            print("repacked at load (one copy, every product): \(replacing.isEmpty ? "none" : replacing.joined(separator: ", "))")
            if !decodeOnly.isEmpty { print("repacked with --repack (decode only, a second copy): \(decodeOnly.joined(separator: ", "))") }
            return
        }
        guard let path else { return }
        do {
            let store = try WeightStore(path: path)
            let c = store.config
            let tensors = store.allTensors.map { TensorRow(name: $0.name, type: $0.type.description, shape: $0.shape, bytes: $0.bytes.count) }
            let total = tensors.reduce(0) { $0 + $1.bytes }
            // Expert bytes: every routed expert's gate, up and down rows, whatever file layout holds them.
            var expertBytes = 0
            for l in 0 ..< c.layerCount where c.isMoELayer(l) {
                for e in 0 ..< c.expertCount {
                    for p in ExpertProjection.allCases {
                        let w = try store.expertMatrix(layer: l, expert: e, p)
                        expertBytes += w.rows * w.rowBytes
                    }
                }
            }
            let moeLayers = (0 ..< c.layerCount).filter { c.isMoELayer($0) }.count
            let expertCount = moeLayers * c.expertCount
            let perExpert = expertCount > 0 ? expertBytes / expertCount : 0
            let format: String
            switch store.source {
            case let .gguf(g): format = "GGUF v\(g.version)"
            case let .safetensors(s): format = "safetensors (\(s.shards.count) file\(s.shards.count == 1 ? "" : "s"))"
            }
            let cfg: [String: String] = [
                "vocab_size": "\(c.vocabSize)", "hidden_size": "\(c.hiddenSize)", "layers": "\(c.layerCount)",
                "heads": "\(c.headCount)", "kv_heads": "\(c.kvHeadCount)", "head_dim": "\(c.headDim)",
                "experts": "\(c.expertCount)", "experts_per_token": "\(c.expertsPerToken)", "expert_ffn": "\(c.expertFFN)",
                "shared_expert_ffn": "\(c.sharedExpertFFN)", "dense_layers": "\(c.denseLayers.sorted())",
                "norm_topk_prob": "\(c.normTopKProb)", "rope_theta": "\(c.ropeTheta)", "rope_style": c.ropeStyle.rawValue,
                "qk_norm": c.qkNorm.rawValue, "attention_bias": "\(c.attentionBias)", "rms_norm_eps": "\(c.rmsNormEps)",
                "context_length": "\(c.maxPositions)", "tie_word_embeddings": "\(c.tieWordEmbeddings)",
                "routing": c.routingSummary, "attention": c.attentionSummary, "kv_bytes_per_token": "\(c.kvBytesPerToken)", "kv_window_bytes": "\(c.kvWindowBytes(maxBatch: 1))",
            ]
            if json {
                try printJSON(Output(path: path, format: format, architecture: c.architecture, config: cfg,
                                     tensors: summary ? nil : tensors, total_bytes: total, expert_bytes: expertBytes,
                                     bytes_per_expert: perExpert, non_expert_bytes: total - expertBytes, experts: expertCount))
                return
            }
            print("\(path)")
            print("  format        \(format)")
            print("  architecture  \(c.architecture)")
            print("  shape         \(c.layerCount) layers, hidden \(c.hiddenSize), \(c.headCount) heads / \(c.kvHeadCount) KV heads × \(c.headDim), vocab \(c.vocabSize)")
            print("  experts       \(c.expertCount) per layer, \(c.expertsPerToken) per token, FFN \(c.expertFFN)"
                + (c.sharedExpertFFN > 0 ? ", shared expert FFN \(c.sharedExpertFFN)" : "")
                + (c.denseLayers.isEmpty ? "" : ", dense layers \(c.denseLayers.sorted())")
                + (c.expertBiases ? ", with biases" : "") + ", \(c.activationSummary)")
            print("  routing       \(c.routingSummary)")
            print("  attention     \(c.attentionSummary)")
            let window = c.windowLayerCount > 0
                ? " on \(c.layerCount - c.windowLayerCount) full-attention layers, + \(fmt(c.kvWindowBytes(maxBatch: 1))) for \(c.windowLayerCount) sliding-window layers' rings"
                : ", all layers"
            print("  KV cache      \(fmt(c.kvBytesPerToken)) per token (float32\(window))")
            print("  bytes         \(fmt(total)) total: \(fmt(expertBytes)) in \(expertCount) experts (\(fmt(perExpert)) each), \(fmt(total - expertBytes)) always resident")
            if !summary {
                print("")
                let w = max(4, tensors.map(\.name.count).max() ?? 4)
                print("  " + "name".padding(toLength: w, withPad: " ", startingAt: 0) + "  type   shape                 bytes")
                for t in tensors {
                    let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
                    print("  " + t.name.padding(toLength: w, withPad: " ", startingAt: 0) + "  "
                        + t.type.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                        + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + "  \(t.bytes)")
                }
            }
        } catch {
            throw fail(error)
        }
    }

    func fmt(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1_073_741_824 { return String(format: "%.2f GiB", b / 1_073_741_824) }
        if b >= 1_048_576 { return String(format: "%.2f MiB", b / 1_048_576) }
        if b >= 1024 { return String(format: "%.1f KiB", b / 1024) }
        return "\(bytes) B"
    }
}
