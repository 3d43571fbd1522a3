import Foundation

/// A naive forward pass in Double over a tiny checkpoint's HF tensors, written straight from the
/// transformers modeling code of each architecture, sharing nothing with the engine. Slow and plain on purpose.
///
/// - Mixtral (MixtralSparseMoeBlock): top-k of the router logits, softmax over those k.
/// - Qwen2-MoE (Qwen2MoeSparseMoeBlock): softmax over all, top-k, renormalise only if norm_topk_prob;
///   plus shared_expert(x) · sigmoid(shared_expert_gate(x)); q/k/v projections with bias.
/// - OLMoE (OlmoeAttention, OlmoeSparseMoeBlock): q_norm / k_norm RMSNorm over the whole q and k
///   projections before splitting heads, then q, k, v clamped to ±clip_qkv if set; softmax, top-k,
///   renormalise only if norm_topk_prob.
/// - Qwen3-MoE: q_norm / k_norm per head; softmax, top-k, renormalise if norm_topk_prob.
/// All: RMSNorm(x) = w · x / sqrt(mean(x²) + eps); rotary with rotate_half (NeoX pairs i, i + d/2);
/// SwiGLU experts down(silu(gate x) · up x); causal softmax attention with grouped KV heads.
struct ReferenceModel {
    struct Routing { var experts: [Int]; var weights: [Double] }

    let spec: TinySpec
    let weights: [String: TinyTensor]

    init(_ checkpoint: TinyCheckpoint) {
        spec = checkpoint.spec
        weights = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, $0) })
    }

    private func w(_ name: String) -> [Double] {
        guard let t = weights[name] else { fatalError("reference: no tensor \(name)") }
        return t.values.map(Double.init)
    }

    /// y = W x (+ b), W stored [out, in] row-major as PyTorch's nn.Linear.
    private func linear(_ name: String, _ x: [Double], bias: String? = nil) -> [Double] {
        let m = w(name)
        let inputs = x.count, outputs = m.count / inputs
        precondition(outputs * inputs == m.count)
        var y = (0 ..< outputs).map { o in (0 ..< inputs).reduce(0.0) { $0 + m[o * inputs + $1] * x[$1] } }
        if let bias { y = zip(y, w(bias)).map(+) }
        return y
    }

    private func rmsNorm(_ x: [Double], _ name: String) -> [Double] {
        let variance = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let r = 1 / (variance + spec.eps).squareRoot()
        return zip(w(name), x).map { $0 * ($1 * r) }
    }

    private func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }

    private func softmax(_ x: [Double]) -> [Double] {
        let m = x.max()!
        let e = x.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Indices of the k largest values, largest first; equal values in index order (torch.topk on CPU).
    private func topK(_ x: [Double], _ k: Int) -> [Int] {
        Array(x.indices.sorted { x[$0] != x[$1] ? x[$0] > x[$1] : $0 < $1 }.prefix(k))
    }

    /// HF rotary: q·cos + rotate_half(q)·sin with rotate_half(x) = [-x2, x1], inv_freq_i = θ^(-2i/d).
    private func rope(_ v: [Double], position: Int) -> [Double] {
        let d = v.count, half = d / 2
        var out = v
        for i in 0 ..< half {
            let angle = Double(position) * pow(spec.ropeTheta, -Double(2 * i) / Double(d))
            let c = cos(angle), s = sin(angle)
            out[i] = v[i] * c - v[i + half] * s
            out[i + half] = v[i + half] * c + v[i] * s
        }
        return out
    }

    private func mlp(_ x: [Double], _ prefix: String, gate: String, up: String, down: String) -> [Double] {
        let g = linear("\(prefix).\(gate).weight", x), u = linear("\(prefix).\(up).weight", x)
        return linear("\(prefix).\(down).weight", zip(g, u).map { silu($0) * $1 })
    }

    private func moe(_ x: [Double], layer l: Int) -> (out: [Double], routing: Routing) {
        let s = spec, block = "model.layers.\(l).\(s.moeBlock)"
        let logits = linear("\(block).gate.weight", x)
        let chosen: [Int], mix: [Double]
        switch s.arch {
        case .mixtral:
            chosen = topK(logits, s.topK)
            mix = softmax(chosen.map { logits[$0] })
        case .qwen2_moe, .olmoe, .qwen3_moe:
            let probs = softmax(logits)
            chosen = topK(probs, s.topK)
            let p = chosen.map { probs[$0] }
            mix = s.normTopK ? p.map { $0 / p.reduce(0, +) } : p
        }
        let n = s.expertNames
        var out = [Double](repeating: 0, count: x.count)
        for (e, m) in zip(chosen, mix) {
            let y = mlp(x, "\(block).experts.\(e)", gate: n.gate, up: n.up, down: n.down)
            for i in out.indices { out[i] += m * y[i] }
        }
        if s.arch == .qwen2_moe {
            let shared = mlp(x, "model.layers.\(l).mlp.shared_expert", gate: "gate_proj", up: "up_proj", down: "down_proj")
            let g = 1 / (1 + exp(-linear("model.layers.\(l).mlp.shared_expert_gate.weight", x)[0]))
            for i in out.indices { out[i] += g * shared[i] }
        }
        return (out, Routing(experts: chosen, weights: mix))
    }

    /// Logits of the last position, and every layer's routing of every token ([layer][token]; dense layers empty).
    func forward(_ tokens: [Int]) -> (logits: [Double], routing: [[Routing]]) {
        let s = spec, hd = s.headDim, group = s.heads / s.kvHeads
        let embed = w("model.embed_tokens.weight")
        var xs = tokens.map { Array(embed[$0 * s.hidden ..< ($0 + 1) * s.hidden]) }
        var routing: [[Routing]] = []
        for l in 0 ..< s.layers {
            let p = "model.layers.\(l)"
            var qs: [[[Double]]] = [], ks: [[[Double]]] = [], vs: [[[Double]]] = [] // [position][head][headDim]
            for (pos, x) in xs.enumerated() {
                let h = rmsNorm(x, "\(p).input_layernorm.weight")
                let bias = s.qkvBias
                var q = linear("\(p).self_attn.q_proj.weight", h, bias: bias ? "\(p).self_attn.q_proj.bias" : nil)
                var k = linear("\(p).self_attn.k_proj.weight", h, bias: bias ? "\(p).self_attn.k_proj.bias" : nil)
                var v = linear("\(p).self_attn.v_proj.weight", h, bias: bias ? "\(p).self_attn.v_proj.bias" : nil)
                if s.qkNorm == .whole {
                    q = rmsNorm(q, "\(p).self_attn.q_norm.weight")
                    k = rmsNorm(k, "\(p).self_attn.k_norm.weight")
                }
                if let clip = s.clipQKV {
                    (q, k, v) = (q.map { min(max($0, -clip), clip) }, k.map { min(max($0, -clip), clip) }, v.map { min(max($0, -clip), clip) })
                }
                func heads(_ v: [Double], _ n: Int) -> [[Double]] { (0 ..< n).map { Array(v[$0 * hd ..< ($0 + 1) * hd]) } }
                var qh = heads(q, s.heads), kh = heads(k, s.kvHeads)
                if s.qkNorm == .perHead {
                    qh = qh.map { rmsNorm($0, "\(p).self_attn.q_norm.weight") }
                    kh = kh.map { rmsNorm($0, "\(p).self_attn.k_norm.weight") }
                }
                qs.append(qh.map { rope($0, position: pos) })
                ks.append(kh.map { rope($0, position: pos) })
                vs.append(heads(v, s.kvHeads))
            }
            var layerRouting: [Routing] = []
            for pos in xs.indices {
                var attn: [Double] = []
                for head in 0 ..< s.heads {
                    let kv = head / group
                    let scores = (0 ... pos).map { j in
                        zip(qs[pos][head], ks[j][kv]).reduce(0.0) { $0 + $1.0 * $1.1 } / Double(hd).squareRoot()
                    }
                    let probs = softmax(scores)
                    attn += (0 ..< hd).map { i in (0 ... pos).reduce(0.0) { $0 + probs[$1] * vs[$1][kv][i] } }
                }
                let o = linear("\(p).self_attn.o_proj.weight", attn)
                xs[pos] = zip(xs[pos], o).map(+)
                let h = rmsNorm(xs[pos], "\(p).post_attention_layernorm.weight")
                let f: [Double]
                if s.isMoE(l) {
                    let (out, r) = moe(h, layer: l)
                    f = out
                    layerRouting.append(r)
                } else {
                    f = mlp(h, "\(p).mlp", gate: "gate_proj", up: "up_proj", down: "down_proj")
                }
                xs[pos] = zip(xs[pos], f).map(+)
            }
            routing.append(layerRouting)
        }
        let h = rmsNorm(xs.last!, "model.norm.weight")
        return (linear(s.tied ? "model.embed_tokens.weight" : "lm_head.weight", h), routing)
    }
}
