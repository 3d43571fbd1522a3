/// GGUF metadata keys of a model file and its low-bit companion (`moe-quantize --companion`,
/// `moe --miss-precision low`). llama.cpp ignores keys it does not know.
public enum CompanionKeys {
    /// Written in both files: a fingerprint of the checkpoint they were quantized from. A pair whose
    /// fingerprints differ was made from different weights and is refused.
    public static let sourceFingerprint = "swiftmoe.source_fingerprint"
    /// Written in the companion: its experts' type (q2_k, q3_k …).
    public static let expertType = "swiftmoe.companion.expert_type"
}
