import ArgumentParser
import Foundation
import MoEFormats
import MoEKernels
import MoEModel

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a model's routing over a text, one token at a time: the trace the other commands read.",
        discussion: """
        Documents are split at <|endoftext|> and each is fed alone, one token at a time (the order in which an
        expert cache sees requests during generation). For every token and MoE layer the chosen experts and
        their mixing weights are written, with document boundaries and the model's identity (name,
        architecture, file, shape), so that a trace used with another model is refused.
        Output: binary (Docs/FORMATS.md, "Routing traces"), or JSON when --out ends in .json (small traces).
          moe-profile record -m model.gguf --file ../shared/data/valid.txt --out valid.trace --max-tokens 20000
        """
    )

    @Option(name: .shortAndLong, help: "GGUF file or Hugging Face folder.")
    var model: String
    @Option(name: .shortAndLong, help: "UTF-8 text file (documents separated by <|endoftext|>).")
    var file: String
    @Option(help: ArgumentHelp("Where to write the trace (.json: JSON).", valueName: "path"))
    var out: String
    @Option(help: "Record only the first N tokens.")
    var maxTokens: Int?
    @Option(help: "KV cache positions (a longer document continues in a fresh context).")
    var context = 2048
    @Option(name: [.customShort("t"), .long], help: "Threads of the forward pass (default: the physical cores).")
    var threads: Int?

    func validate() throws {
        if let n = maxTokens, n < 1 { throw ValidationError("--max-tokens must be ≥ 1") }
        guard context >= 1 else { throw ValidationError("--context must be ≥ 1") }
    }

    func run() throws {
        try reportingErrors {
            let m = try Model(path: model)
            let docs = try documents(of: file, model: m, maxTokens: maxTokens)
            let interactive = isatty(2) != 0
            let trace = try m.recordRouting(documents: docs, maxTokens: maxTokens, contextLength: min(context, m.config.maxPositions),
                                            threads: threads ?? ThreadPool.physicalCores, precision: .q8) { done, total in
                if interactive { printErr("\rtoken \(done)/\(total)", terminator: done == total ? "\n" : "") }
            }
            try trace.write(to: out)
            printErr("wrote \(out): \(trace.tokens) tokens × \(trace.layers) layers, top-\(trace.k) of \(trace.experts) experts, \(trace.documentStarts.count) documents")
        }
    }
}
