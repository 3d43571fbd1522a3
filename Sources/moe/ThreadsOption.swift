import ArgumentParser
import MoEKernels

/// `--threads N`, shared by the commands that run the model.
struct ThreadsOption: ParsableArguments {
    @Option(name: [.customShort("t"), .long],
            help: "Threads of the forward pass, 1 ... \(ThreadPool.maxThreads) (default: the \(ThreadPool.physicalCores) physical cores).")
    var threads: Int?

    var count: Int { threads ?? ThreadPool.physicalCores }

    func validate() throws {
        if let t = threads, t < 1 || t > ThreadPool.maxThreads {
            throw ValidationError("--threads must be between 1 and \(ThreadPool.maxThreads), the processors this machine has (got \(t))")
        }
    }
}
