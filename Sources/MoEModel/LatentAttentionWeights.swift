import MoEFormats
import MoEKernels
import MoEStore

/// Multi-head latent attention's weights, in the absorbed form the forward pass uses.
///
/// Per token: q = Wq·x (or Wq_b · norm(Wq_a · x) with a q LoRA), split per head into q_nope and q_rope;
/// [c ; k_rope] = Wkv_a · x, with c normed (the latent, `kvLoraRank`) and k_rope rotated (one key for all heads).
/// The up-projection of c to each head's key and value (`kv_b_proj`) is never applied to the cache:
/// head h's score against position j is (k_bᵀ_h · q_nope_h) · c_j + q_rope_h · k_rope_j, and its output
/// is v_b_h · (Σ_j p_j c_j). So `kB[h]` is `[kvLoraRank, nopeDim]` (k_bᵀ, as llama.cpp's converter stores
/// `attn_k_b`) and `vB[h]` is `[valueDim, kvLoraRank]` (`attn_v_b`).
public struct LatentAttentionWeights: Sendable {
    public let qA: WeightMatrix?          // [qLoraRank, hidden]; nil without a q LoRA
    public let qANorm: [Float]?           // [qLoraRank]
    public let q: WeightMatrix            // [heads * (nope + rope), qLoraRank or hidden]
    public let kvA: WeightMatrix          // [kvLoraRank + rope, hidden]
    public let kvANorm: [Float]           // [kvLoraRank]
    public let kB: [WeightMatrix]         // [heads] × [kvLoraRank, nope]
    public let vB: [WeightMatrix]         // [heads] × [valueDim, kvLoraRank]
    public let wo: WeightMatrix           // [hidden, heads * valueDim]

    init(store: WeightStore, layer l: Int, config c: ModelConfig, mla m: LatentAttention,
         mat: (WeightMatrix) throws -> WeightMatrix) throws {
        let h = c.hiddenSize, heads = c.headCount
        func name(_ part: String) -> String { TensorName.block(l, part) }
        if m.qLoraRank > 0 {
            qA = try mat(store.matrix(name("attn_q_a.weight"), rows: m.qLoraRank, cols: h))
            qANorm = try store.vector(name("attn_q_a_norm.weight"), count: m.qLoraRank)
            q = try mat(store.matrix(name("attn_q_b.weight"), rows: heads * m.qkDim, cols: m.qLoraRank))
        } else {
            (qA, qANorm) = (nil, nil)
            q = try mat(store.matrix(name("attn_q.weight"), rows: heads * m.qkDim, cols: h))
        }
        kvA = try mat(store.matrix(name("attn_kv_a_mqa.weight"), rows: m.kvLoraRank + m.ropeDim, cols: h))
        kvANorm = try store.vector(name("attn_kv_a_norm.weight"), count: m.kvLoraRank)
        wo = try mat(store.matrix(name("attn_output.weight"), rows: h, cols: heads * m.valueDim))
        if store.hasTensor(name("attn_k_b.weight")) {
            kB = try store.stackedMatrices(name("attn_k_b.weight"), count: heads, rows: m.kvLoraRank, cols: m.nopeDim).map(mat)
            vB = try store.stackedMatrices(name("attn_v_b.weight"), count: heads, rows: m.valueDim, cols: m.kvLoraRank).map(mat)
        } else {
            // The unsplit up-projection (HF `kv_b_proj`, older GGUF `attn_kv_b`): rows of head h are its
            // nope key rows, then its value rows. Values are row slices as they are; keys are transposed
            // into float32 per head once here (heads · nope · kvLoraRank floats).
            let kvB = try mat(store.matrix(name("attn_kv_b.weight"), rows: heads * (m.nopeDim + m.valueDim), cols: m.kvLoraRank))
            let perHead = m.nopeDim + m.valueDim
            vB = try (0 ..< heads).map { hh in
                try WeightMatrix(type: kvB.type, rows: m.valueDim, cols: m.kvLoraRank,
                                 base: kvB.row(hh * perHead + m.nopeDim), owner: kvB.owner, name: name("attn_v_b.weight"))
            }
            let transposed = FloatStorage(count: heads * m.kvLoraRank * m.nopeDim)
            var row = [Float](repeating: 0, count: m.kvLoraRank)
            for hh in 0 ..< heads {
                let head = transposed.pointer + hh * m.kvLoraRank * m.nopeDim
                for i in 0 ..< m.nopeDim {
                    row.withUnsafeMutableBufferPointer {
                        Dequantize.row(type: kvB.type, src: kvB.row(hh * perHead + i), dst: $0.baseAddress!, count: m.kvLoraRank)
                    }
                    for r in 0 ..< m.kvLoraRank { head[r * m.nopeDim + i] = row[r] }
                }
            }
            kB = try (0 ..< heads).map { hh in
                try WeightMatrix(type: .f32, rows: m.kvLoraRank, cols: m.nopeDim,
                                 base: UnsafeRawPointer(transposed.pointer + hh * m.kvLoraRank * m.nopeDim),
                                 owner: transposed, name: name("attn_k_b.weight"))
            }
        }
    }
}

/// Float32 storage owned by the weights that point into it.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { pointer.deallocate() }
}
