import ArgumentParser
import MoEKernels

extension ActivationPrecision: ExpressibleByArgument {}

/// How the forward pass computes: `--threads N` and `--activations q8|f32`, shared by the commands that run the model.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("q8: activations quantized to 8-bit blocks for the integer kernels (fast, as llama.cpp). f32: float activations, weights widened on the fly (the reference path that reproduces transformers).",
                               valueName: "q8|f32"))
    var activations: ActivationPrecision = .q8

    @Option(name: [.customShort("t"), .long],
            help: "Threads of the forward pass, 1 ... \(ThreadPool.maxThreads) (default: the \(ThreadPool.physicalCores) physical cores).")
    var threads: Int?

    var threadCount: Int { threads ?? ThreadPool.physicalCores }

    @Flag(help: "Also keep a second, decode-only repacked copy where a layout serves decode only. Every layout of this release serves prefill too (Q4_0, MXFP4, Q4_K, Q3_K and IQ4_XS 8 rows at a time with AVX2; Q4_0, MXFP4, Q4_K, Q6_K, Q3_K and IQ4_XS 16 at a time with AVX-512), so they are repacked by default, replacing the row-major rows (one copy), and this flag adds nothing; `moe inspect --cpu` lists them.")
    var repack = false

    @Flag(name: .customLong("no-repack"), help: "Use every weight in place through the memory map (no repacked copy).")
    var noRepack = false

    var repackPolicy: RepackPolicy { noRepack ? .none : repack ? .all : .replacing }

    func validate() throws {
        if repack && noRepack { throw ValidationError("--repack and --no-repack exclude each other") }
        if let t = threads, t < 1 || t > ThreadPool.maxThreads {
            throw ValidationError("--threads must be between 1 and \(ThreadPool.maxThreads), the processors this machine has (got \(t))")
        }
    }
}
