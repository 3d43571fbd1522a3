/// How many bytes of guesses the disk can read while the forward pass computes: the only time a guess is free.
///
/// A prefetched expert that is used saves the wait for its read only if the read overlapped computation; one that
/// is not used costs its whole read wherever that read lands in a stall. Guesses read after the demand reads
/// (`ExpertCache` starts them only when no request is waiting), so the time they have is the compute of the layers
/// before the guessed one. On a disk that reads 1 GB/s and layers that compute in 1.5 ms (olmoe-like Q4_0 on two
/// cores) that is 1.5 MB a layer, less than one 3.5 MB expert; on 5 GB/s, two experts. `ExpertCache.prefetchAhead`
/// spends this window and no more.
///
/// Measured, not configured: the disk's rate is the bytes that completed while the compute thread waited on reads
/// (the disk is then the bottleneck) over the seconds it waited; a layer's compute is the time from its experts
/// being ready to the next request. Both are decayed sums, so they follow the disk's minute and a change of
/// batch. Guarded by the cache's lock.
struct GuessWindow {
    private var stallBytes = 0.0, stallSeconds = 0.0
    private var computeSum = 0.0, computeCount = 0.0
    private var readyAt: ContinuousClock.Instant?
    /// Weight of the past in each sum per new measurement.
    private static let decay = 0.95
    /// A gap this long between a layer's experts being ready and the next request is not a layer's compute (a
    /// pause between tokens or prompts).
    private static let longestCompute = 0.25

    /// The compute thread waited `seconds` for reads, during which `bytes` finished.
    mutating func stalled(bytes: Int, seconds: Double) {
        guard seconds > 0 else { return }
        stallBytes = Self.decay * stallBytes + Double(bytes)
        stallSeconds = Self.decay * stallSeconds + seconds
    }

    /// A request's experts are ready: the layer's compute starts.
    mutating func ready(at now: ContinuousClock.Instant) { readyAt = now }

    /// A request: the previous layer's compute (if one was timed) ended.
    mutating func requested(at now: ContinuousClock.Instant) {
        defer { readyAt = nil }
        guard let readyAt else { return }
        let seconds = (now - readyAt).seconds
        guard seconds < Self.longestCompute else { return }
        computeSum = Self.decay * computeSum + seconds
        computeCount = Self.decay * computeCount + 1
    }

    /// Bytes per second the disk delivered while it was the bottleneck; nil before the first stall.
    var diskRate: Double? { stallSeconds > 0 && stallBytes > 0 ? stallBytes / stallSeconds : nil }

    /// Seconds of one layer's compute; nil before the first was timed.
    var computeSeconds: Double? { computeCount > 0 ? computeSum / computeCount : nil }

    /// Bytes the disk can read in `layers` layers' compute; nil while unmeasured (the first layers of a run, or
    /// the first step after a long prompt, whose layers computed too long to count).
    func bytes(layers: Int) -> Double? {
        guard let rate = diskRate, let compute = computeSeconds else { return nil }
        return rate * compute * Double(layers)
    }
}
