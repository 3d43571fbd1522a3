import ArgumentParser
import MoEModel

/// How the next token is chosen: shared by `generate` and `chat`.
struct SamplingArguments: ParsableArguments {
    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature: Float = 0

    @Option(help: "Keep only the K most likely tokens (0 = off).")
    var topK: Int = 0

    @Option(help: "Keep the smallest set of tokens whose probability reaches P (1 = off).")
    var topP: Float = 1

    @Option(help: "Drop tokens less likely than P × the most likely one (0 = off).")
    var minP: Float = 0

    @Option(help: "Divide the logits of the last 64 tokens by this (1 = off).")
    var repeatPenalty: Float = 1

    @Option(help: "Subtract P from the logit of every token among the last 64 (OpenAI's presence_penalty; 0 = off).")
    var presencePenalty: Float = 0

    @Option(help: "Subtract P × its count from the logit of every token among the last 64 (OpenAI's frequency_penalty; 0 = off).")
    var frequencyPenalty: Float = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    var options: SamplingOptions {
        SamplingOptions(temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repeatPenalty,
                        presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, seed: seed)
    }

    func validate() throws {
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard minP >= 0, minP < 1 else { throw ValidationError("--min-p must be in [0, 1)") }
        guard repeatPenalty > 0 else { throw ValidationError("--repeat-penalty must be > 0") }
        guard (-2 ... 2).contains(presencePenalty) else { throw ValidationError("--presence-penalty must be in -2…2") }
        guard (-2 ... 2).contains(frequencyPenalty) else { throw ValidationError("--frequency-penalty must be in -2…2") }
    }
}
