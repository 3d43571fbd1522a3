import Foundation
import MoEKernels
import MoEModel
import Testing

/// Perplexity over the first 65,536 reference token ids of valid.txt (valid-ids.bin), by the method of
/// ../shared/README.md, against transformers' ppl.json; and llama.cpp's quantized files against bf16.
@Suite(.enabled(if: SharedData.available, SharedData.skipMessage), .serialized)
struct PerplexityTests {
    static let tokenCount = 65_536

    static func referenceIds() throws -> [Int] {
        let data = try #require(FileManager.default.contents(atPath: SharedData.tiny + "/valid-ids.bin"))
        let ids = data.withUnsafeBytes { raw in (0 ..< data.count / 2).map { Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) } }
        return Array(ids.prefix(tokenCount))
    }

    static func referencePPL() throws -> Double {
        let data = try #require(FileManager.default.contents(atPath: SharedData.tiny + "/ppl.json"))
        struct PPL: Decodable { struct Overall: Decodable { let ppl: Double; let tokens: Int }; let overall: Overall }
        return try JSONDecoder().decode(PPL.self, from: data).overall.ppl
    }

    /// bf16 perplexity of our engine, computed once and shared by the quantized-file comparisons.
    static let bf16PPL: Double? = try? Model(path: SharedData.tiny + "/tiny-qwen3moe-bf16.gguf").perplexity(tokens: referenceIds()).perplexity

    @Test("safetensors and bf16 GGUF perplexity equal transformers' within 0.1%", arguments: ["", "bf16"])
    func matchesTransformers(source: String) throws {
        let reference = try Self.referencePPL()
        let ppl: Double
        if source == "bf16" {
            ppl = try #require(Self.bf16PPL)
        } else {
            let result = try Model(path: SharedData.tiny).perplexity(tokens: Self.referenceIds())
            #expect(result.scoredTokens == Self.tokenCount - 1)
            ppl = result.perplexity
        }
        let rel = abs(ppl - reference) / reference
        #expect(rel <= 0.001, "perplexity \(ppl) vs transformers \(reference) (\(rel * 100)%)")
    }
}

extension PerplexityTests {
    /// llama.cpp's own rise over bf16 for its quantized files (../shared/README.md, llama-perplexity).
    static let llamaCppRise: [String: Double] = ["Q8_0": 0.00013, "Q4_0": 0.0263]

    /// Perplexity of llama.cpp's quantized file `type` with float32 activations (the reference path),
    /// computed once and shared by the tests below.
    static let f32PPL: [String: Double] = Dictionary(uniqueKeysWithValues: ["Q8_0", "Q4_0"].compactMap { type in
        (try? Model(path: SharedData.tiny + "/tiny-qwen3moe-\(type).gguf").perplexity(tokens: referenceIds()).perplexity)
            .map { (type, $0) }
    })

    @Test("llama.cpp's Q8_0 and Q4_0 files: perplexity rise over bf16 ≤ llama.cpp's rise + 0.5 points", arguments: ["Q8_0", "Q4_0"])
    func quantizedRise(type: String) throws {
        let bf16 = try #require(Self.bf16PPL)
        let ppl = try #require(Self.f32PPL[type])
        let rise = ppl / bf16 - 1
        let bound = try #require(Self.llamaCppRise[type]) + 0.005
        #expect(rise <= bound, "\(type): perplexity \(ppl) vs bf16 \(bf16): rise \(rise * 100)% > \(bound * 100)%")
        #expect(ppl.isFinite && ppl > 1)
    }

    @Test("8-bit activations (integer kernels) keep perplexity within 0.1% of float32 activations", arguments: ["Q8_0", "Q4_0"])
    func quantizedActivations(type: String) throws {
        let f32 = try #require(Self.f32PPL[type])
        let model = try Model(path: SharedData.tiny + "/tiny-qwen3moe-\(type).gguf")
        let q8 = try model.perplexity(tokens: Self.referenceIds(), precision: .q8).perplexity
        let rel = abs(q8 / f32 - 1)
        #expect(rel <= 0.001, "\(type): q8 activations \(q8) vs f32 \(f32): \(rel * 100)%")
    }
}
