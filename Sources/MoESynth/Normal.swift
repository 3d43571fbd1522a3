import CKernels

/// Deterministic normal random numbers for synthetic weights, addressable by (seed, tensor, row): every row
/// of every tensor has its own stream, so rows can be generated on any thread, in any order, and give the
/// same numbers. The stream is SplitMix64 (counter-based: output k is mix(key + (k+1)·γ)); each output
/// becomes two normals by Box–Muller (C code in `CKernels/synth_normal.c`, no libm, the same bits on every CPU).
public enum NormalStream {
    static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SplitMix64's output function.
    public static func mix64(_ x: UInt64) -> UInt64 { moe_mix64(x) }

    /// FNV-1a of a name: tensors are told apart by name, not by their position in a file, so that a GGUF file
    /// and a safetensors folder made with the same seed hold the same numbers.
    public static func nameHash(_ name: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// The key of one row's stream.
    public static func rowKey(seed: UInt64, name: UInt64, row: Int) -> UInt64 {
        moe_mix64(moe_mix64(seed &+ name) &+ UInt64(truncatingIfNeeded: row) &* gamma)
    }

    /// out[0 ..< count] = mean + std · N(0, 1) from stream `key`, each rounded to the nearest bfloat16.
    public static func fillBF16(key: UInt64, mean: Float, std: Float, out: UnsafeMutablePointer<Float>, count: Int) {
        moe_normal_bf16(key, mean, std, out, Int64(count))
    }
}
