/// Whether expert weights compress enough for the compressed tier to pay.
///
/// RAM given to the compressed tier holds 1/ratio times the experts the same RAM holds raw in the ready
/// tier; in exchange each of its hits costs a decompression (CPU time, on the I/O threads) and each
/// admission a compression. The extra capacity is 1/ratio − 1: 11% at 0.9, 25% at 0.8, 43% at 0.7.
///
/// Quantized codes are close to random bytes (Q4_0, 16 bytes of 4-bit codes per fp16 scale: ratio 1.00 at
/// level 3 in the tests, zstd stores them raw); bf16/fp16 weights are not, since their exponent bits take
/// a few values (0.78 for bf16 Gaussian weights at level 3 in the tests). Negative levels don't
/// entropy-code literals, so weights barely compress there: use level 1 or more. The engine measures
/// `ratio` on a few experts and enables the tier only below `worthwhileRatio`.
public enum Compressibility {
    /// 0.9: below it the tier holds at least 11% more experts than raw RAM would. Less than that buys a
    /// few points of hit rate at most (compare neighbouring capacities in the cache replay tables of
    /// ../shared/README.md) while every hit of the tier pays a decompression, so the tier is off. A
    /// proposal, to be checked against measured tokens/s once the cache runs with the tier.
    public static let worthwhileRatio = 0.9

    /// Compressed bytes / raw bytes over all `samples`, each compressed as one frame at `level` (the
    /// frames' headers and checksums included: what the tier would hold). 1 when the samples are empty.
    public static func ratio(samples: [UnsafeRawBufferPointer], level: Int32) throws -> Double {
        let raw = samples.reduce(0) { $0 + $1.count }
        guard raw > 0 else { return 1 }
        let context = ZstdContext()
        let scratch = UnsafeMutableRawBufferPointer.allocate(
            byteCount: Zstd.compressBound(samples.map(\.count).max() ?? 0), alignment: 16)
        defer { scratch.deallocate() }
        var compressed = 0
        for s in samples { compressed += try context.compress(s, into: scratch, level: level) }
        return Double(compressed) / Double(raw)
    }
}
