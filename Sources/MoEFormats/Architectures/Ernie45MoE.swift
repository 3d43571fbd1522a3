/// ERNIE-4.5 MoE (`ernie4_5_moe`; GGUF `ernie4_5-moe`): Llama attention with interleaved rotary (pairs
/// 2i, 2i+1), softmax router whose choice ranks the probabilities plus a selection bias (`moe_statics`)
/// while the weights are the unbiased probabilities renormalised (÷ max(sum, `moe_norm_min`)), ungated
/// shared experts, MoE on every `moe_layer_interval`-th layer from `moe_layer_start_index` to
/// `moe_layer_end_index`, tied embeddings, a SentencePiece tokenizer.
public enum Ernie45MoE: ArchitectureSpec {
    public static let modelType = "ernie4_5_moe"
    public static let ggufArchitectures = ["ernie4_5-moe"]
    public static let hfNaming = HFNaming.ernie

    public static func config(hf c: HFConfig, path: String) throws -> ModelConfig {
        let layers = min(max(0, try c.require(c.numHiddenLayers, "num_hidden_layers", path: path)), ModelConfig.maxCount)
        let interval = c.moeLayerInterval ?? 1
        guard interval >= 1 else { throw FormatError.malformed(path: path, what: "'moe_layer_interval' \(interval) is not positive") }
        let start = c.moeLayerStartIndex ?? 0
        let end = (c.moeLayerEndIndex ?? -1) < 0 ? layers - 1 : c.moeLayerEndIndex!
        let dense = Set((0 ..< layers).filter { !(($0 + 1) % interval == 0 && $0 >= start && $0 <= end) })
        let expertFFN = try c.require(c.moeIntermediateSize, "moe_intermediate_size", path: path)
        var hf = c
        hf.numExperts = try c.require(c.moeNumExperts, "moe_num_experts", path: path)
        hf.numExpertsPerTok = try c.require(c.moeK, "moe_k", path: path)
        if c.useBias == true {
            throw FormatError.malformed(path: path, what: "'use_bias' true (linear biases) is not supported for ERNIE-4.5")
        }
        var config = try baseConfig(hf: hf, path: path, expertFFN: expertFFN, normTopK: true, qkNorm: .none,
                                    sharedFFN: (c.moeNumSharedExperts ?? 0) * expertFFN, denseLayers: dense)
        config.ropeStyle = .interleaved
        config.sharedExpertGated = false
        config.routing = RoutingRule(scoring: .softmax, selectionBias: true, renormFloor: Float(c.moeNormMin ?? 1e-12))
        config.yarn = try rotaryScaling(hf: c, path: path).yarn
        return config
    }

    public static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        var config = try baseConfig(gguf: m, normTopK: true, ropeStyle: .interleaved, qkNorm: .none)
        config.sharedExpertGated = false
        config.sharedExpertFFN = sharedExpertWidth(gguf: m, dense: config.denseLayers, layers: config.layerCount)
        let hasBias = (0 ..< config.layerCount).contains { m.file.tensor(TensorName.block($0, "exp_probs_b.bias")) != nil }
        config.routing = RoutingRule(scoring: .softmax, selectionBias: hasBias, renormFloor: 1e-12)
        config.yarn = try rotaryScaling(gguf: m)
        return config
    }
}
