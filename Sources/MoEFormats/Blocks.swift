import Foundation

// The building blocks an architecture chooses from, as data. An architecture file fills them in
// `ModelConfig`; the forward pass composes itself from them and never reads the architecture's name.

/// Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2). Keys and values of every head are projections of
/// one compressed latent per token (`kvLoraRank` wide) plus one rotary key shared by all heads
/// (`ropeDim`), so the KV cache holds `kvLoraRank + ropeDim` floats per token and layer instead of
/// `2 · kvHeads · headDim`. Queries come straight from the hidden state or through a low-rank bottleneck
/// (`qLoraRank`, 0 for none: DeepSeek-V2-Lite).
public struct LatentAttention: Sendable, Equatable {
    public var qLoraRank: Int
    public var kvLoraRank: Int
    /// Per head: the query/key part without position (`qk_nope_head_dim`) and the rotary part (`qk_rope_head_dim`).
    public var nopeDim: Int
    public var ropeDim: Int
    /// Per head value width (`v_head_dim`).
    public var valueDim: Int
    /// Epsilon of the RMSNorms on the q and kv latents. transformers builds them with its default 1e-6
    /// whatever `rms_norm_eps` says; llama.cpp uses the model's epsilon (the same value in DeepSeek's releases).
    public var latentNormEps: Float

    public var qkDim: Int { nopeDim + ropeDim }

    public init(qLoraRank: Int, kvLoraRank: Int, nopeDim: Int, ropeDim: Int, valueDim: Int, latentNormEps: Float = 1e-6) {
        (self.qLoraRank, self.kvLoraRank, self.nopeDim, self.ropeDim, self.valueDim, self.latentNormEps) =
            (qLoraRank, kvLoraRank, nopeDim, ropeDim, valueDim, latentNormEps)
    }

    func validate(path: String) throws {
        for (name, value, lowest) in [("q_lora_rank", qLoraRank, 0), ("kv_lora_rank", kvLoraRank, 1), ("qk_nope_head_dim", nopeDim, 0),
                                      ("qk_rope_head_dim", ropeDim, 2), ("v_head_dim", valueDim, 1)] {
            guard value >= lowest, value <= ModelConfig.maxWidth else {
                throw FormatError.malformed(path: path, what: "'\(name)' \(value) is not in \(lowest)…\(ModelConfig.maxWidth)")
            }
        }
        guard ropeDim % 2 == 0 else { throw FormatError.malformed(path: path, what: "'qk_rope_head_dim' \(ropeDim) is odd") }
    }
}

/// YaRN rotary scaling (Peng et al. 2023) as transformers computes it: each frequency is blended between
/// its original value and the value divided by `factor`, by a linear ramp over the dimensions whose
/// wavelengths fall between `betaFast` and `betaSlow` rotations of the original context; cos and sin are
/// multiplied by `attentionFactor`.
public struct YaRN: Sendable, Equatable {
    public var factor: Double
    public var originalContext: Double
    public var betaFast: Double
    public var betaSlow: Double
    /// Factor on cos and sin (transformers' `attention_factor`: mscale(factor, mscale) / mscale(factor, mscale_all_dim)).
    public var attentionFactor: Double
    /// Round the correction range outwards to whole dimensions (transformers' default; gpt-oss says false).
    public var truncate: Bool

    public init(factor: Double, originalContext: Double, betaFast: Double = 32, betaSlow: Double = 1,
                attentionFactor: Double, truncate: Bool = true) {
        (self.factor, self.originalContext, self.betaFast, self.betaSlow, self.attentionFactor, self.truncate) =
            (factor, originalContext, betaFast, betaSlow, attentionFactor, truncate)
    }

    /// DeepSeek's `yarn_get_mscale`: 0.1 · mscale · ln(scale) + 1 for scale > 1, else 1.
    public static func mscale(_ scale: Double, _ mscale: Double = 1) -> Double {
        scale <= 1 ? 1 : 0.1 * mscale * log(scale) + 1
    }

    /// The inverse frequencies of `dim` rotary dimensions at base `theta`, in float32 as transformers computes them.
    public func inverseFrequencies(dim: Int, theta: Float) -> [Float] {
        func correctionDim(_ rotations: Double) -> Double {
            Double(dim) * log(originalContext / (rotations * 2 * Double.pi)) / (2 * log(Double(theta)))
        }
        var low = correctionDim(betaFast), high = correctionDim(betaSlow)
        if truncate { low = low.rounded(.down); high = high.rounded(.up) }
        low = max(low, 0)
        high = min(high, Double(dim - 1))
        if low == high { high += 0.001 }
        let lowF = Float(low), span = Float(high - low)
        return (0 ..< dim / 2).map { i in
            let posFreq = powf(theta, Float(2 * i) / Float(dim))
            let extrapolation = 1 / posFreq
            let interpolation = 1 / (Float(factor) * posFreq)
            let ramp = min(max((Float(i) - lowF) / span, 0), 1)
            let extrapolationWeight = 1 - ramp
            return interpolation * (1 - extrapolationWeight) + extrapolation * extrapolationWeight
        }
    }

    func validate(path: String) throws {
        guard factor > 0, factor.isFinite, originalContext > 0, originalContext.isFinite, betaFast > 0, betaSlow > 0,
              attentionFactor > 0, attentionFactor.isFinite else {
            throw FormatError.malformed(path: path, what: "YaRN rope scaling needs a positive factor, original context and betas (factor \(factor), original_max_position_embeddings \(originalContext))")
        }
    }
}

/// How a router turns its logits into k experts and their mixing weights.
///
/// scores = softmax(logits) or sigmoid(logits); the choice ranks `scores + bias` where the layer has a
/// selection bias (DeepSeek-V3's `e_score_correction_bias`, ERNIE's `moe_statics`), within the best
/// `groupsUsed` of `groups` groups of experts when grouped (a group's score: the sum of its top two, or its
/// best); the weights are the chosen experts' unbiased scores, renormalised to sum 1 when asked (dividing by
/// max(sum, `renormFloor`)), then multiplied by `scale` (`routed_scaling_factor`).
public struct RoutingRule: Sendable, Equatable {
    /// `softmaxOfChosen` (gpt-oss): the choice ranks the logits, the weights are the softmax of the k chosen
    /// logits alone (the same numbers as softmax-then-renormalise, computed as transformers does).
    public enum Scoring: String, Sendable { case softmax, sigmoid, softmaxOfChosen = "softmax of the chosen" }
    public enum GroupScore: String, Sendable { case topTwoSum = "sum of top 2", max }

    public var scoring: Scoring = .softmax
    /// The layer has a bias added to the scores for the choice only.
    public var selectionBias = false
    public var groups = 1
    public var groupsUsed = 1
    public var groupScore: GroupScore = .topTwoSum
    public var scale: Float = 1
    public var renormFloor: Float = 1e-20

    public init(scoring: Scoring = .softmax, selectionBias: Bool = false, groups: Int = 1, groupsUsed: Int = 1,
                groupScore: GroupScore = .topTwoSum, scale: Float = 1, renormFloor: Float = 1e-20) {
        (self.scoring, self.selectionBias, self.groups, self.groupsUsed, self.groupScore, self.scale, self.renormFloor) =
            (scoring, selectionBias, groups, groupsUsed, groupScore, scale, renormFloor)
    }

    public var isGrouped: Bool { groups > 1 && groupsUsed < groups }

    func validate(experts: Int, k: Int, path: String) throws {
        func bad(_ what: String) -> FormatError { .malformed(path: path, what: what) }
        guard groups >= 1, groups <= max(experts, 1) else { throw bad("'n_group' \(groups) is not in 1…\(experts) (the expert count)") }
        guard groupsUsed >= 1, groupsUsed <= groups else { throw bad("'topk_group' \(groupsUsed) is not in 1…\(groups) ('n_group')") }
        if groups > 1 {
            guard experts % groups == 0 else { throw bad("\(experts) experts do not split into 'n_group' \(groups) groups") }
            guard groupScore == .max || experts / groups >= 2 else { throw bad("groups of one expert cannot be scored by their top two") }
            guard k <= groupsUsed * (experts / groups) else {
                throw bad("top-\(k) experts cannot be chosen from 'topk_group' \(groupsUsed) groups of \(experts / groups)")
            }
        }
        guard scale.isFinite, scale > 0 else { throw bad("routed scaling factor \(scale) is not positive") }
    }
}

/// The gated FFN's activation, applied to the gate and up projections' outputs.
public enum FFNActivation: Sendable, Equatable {
    /// silu(gate) · up (Llama, Qwen, DeepSeek, …).
    case swiglu
    /// gpt-oss: gate clamped above at `limit`, up clamped to ±`limit`, then (up + 1) · gate · sigmoid(`alpha` · gate).
    case clampedSwiGLU(alpha: Float, limit: Float)

    func validate(path: String) throws {
        if case let .clampedSwiGLU(alpha, limit) = self, !(alpha.isFinite && limit.isFinite && limit > 0) {
            throw FormatError.malformed(path: path, what: "swiglu_alpha \(alpha) and swiglu_limit \(limit) must be finite, the limit positive")
        }
    }
}

/// Attention restricted to the last `window` positions (the current one included) on some layers.
public struct SlidingWindow: Sendable, Equatable {
    public var window: Int
    public var layers: Set<Int>
    public init(window: Int, layers: Set<Int>) { (self.window, self.layers) = (window, layers) }
}

extension ModelConfig {
    /// The router in words, for `moe inspect`: "sigmoid + bias → 4 of 8 groups (sum of top 2) → top-8 → renormalise → × 2.5".
    public var routingSummary: String {
        if routing.scoring == .softmaxOfChosen {
            return (routerLogitBias ? "logits + bias" : "logits") + " → top-\(expertsPerToken) → softmax of the chosen"
                + (routing.scale != 1 ? " → × \(routing.scale)" : "")
        }
        var parts = [(routerLogitBias ? "logits + bias → " : "") + routing.scoring.rawValue + (routing.selectionBias ? " + selection bias" : "")]
        if routing.isGrouped { parts.append("\(routing.groupsUsed) of \(routing.groups) groups (\(routing.groupScore.rawValue))") }
        parts.append("top-\(expertsPerToken)")
        if normTopKProb { parts.append("renormalise") }
        if routing.scale != 1 { parts.append("× \(routing.scale)") }
        return parts.joined(separator: " → ")
    }

    /// The FFN activation in words, for `moe inspect`.
    public var activationSummary: String {
        switch activation {
        case .swiglu: return "SwiGLU"
        case let .clampedSwiGLU(alpha, limit): return "clamped SwiGLU (α \(alpha), limit \(limit), (up + 1))"
        }
    }

    /// The attention block in words, for `moe inspect`.
    public var attentionSummary: String {
        var s: String
        if let m = latentAttention {
            s = "multi-head latent (kv_lora \(m.kvLoraRank), " + (m.qLoraRank > 0 ? "q_lora \(m.qLoraRank)" : "no q LoRA")
                + ", nope \(m.nopeDim) + rope \(m.ropeDim), v \(m.valueDim))"
        } else {
            s = "grouped-query, q/k norm \(qkNorm.rawValue)" + (attentionBias ? ", qkv bias" : "")
        }
        s += ", rope \(ropeStyle.rawValue) θ=\(ropeTheta)" + (rotaryDim != headDim && latentAttention == nil ? " on \(rotaryDim) of \(headDim)" : "")
        if let y = yarn { s += ", YaRN ×\(y.factor) from \(Int(y.originalContext))" }
        if attentionScaleFactor != 1 { s += ", softmax scale ×\(attentionScaleFactor)" }
        if attentionSinks { s += ", sinks" }
        if attentionOutputBias { s += ", output bias" }
        if let w = slidingWindow { s += ", window \(w.window) on \(w.layers.count) of \(layerCount) layers" }
        return s
    }
}
