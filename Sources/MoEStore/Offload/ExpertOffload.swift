import Foundation
import MoEFormats

/// How a model runs with its experts offloaded: the memory budget of the whole process and the cache's options.
public struct OffloadSettings: Sendable {
    /// Bytes the whole process may hold: resident weights, KV cache, buffers, runtime and every cache tier.
    /// nil: no budget (then `maxExperts` sizes the cache).
    public var budgetBytes: Int?
    /// At most this many experts in the ready tier (for studies of cache behaviour); nil: what the budget allows.
    public var maxExperts: Int?
    public var cache: ExpertCacheOptions
    /// The compressed-RAM tier: `auto` measures how well this model's experts compress and uses the tier
    /// when the ratio is below `Compressibility.worthwhileRatio` (and a budget is given).
    public var compression: CompressionChoice
    /// Low-bit copies for misses (`LowBitMisses`); nil: every expert is computed from the model's own copy.
    public var lowBit: LowBitMisses?
    public init(budgetBytes: Int? = nil, maxExperts: Int? = nil, cache: ExpertCacheOptions = ExpertCacheOptions(),
                compression: CompressionChoice = .auto, lowBit: LowBitMisses? = nil) {
        (self.budgetBytes, self.maxExperts, self.cache, self.compression) = (budgetBytes, maxExperts, cache, compression)
        self.lowBit = lowBit
    }
}

/// `--miss-precision low` (after HOBBIT, Tang et al. 2024): in decode, a chosen expert that the cache does not
/// hold and whose mixing weight ranks below the token's top `fullRank` is computed from a companion file's
/// lower-precision copy (a second, smaller cache of those copies, `shareOfBudget` of the experts' memory)
/// instead of being read at full size. Output then differs from exact mode; its cost is measured as
/// perplexity (Docs/BENCHMARKS.md). Prompts (several tokens per pass) stay exact.
public struct LowBitMisses: Sendable {
    /// The companion file: the same model with its experts at a lower precision (checked against the model's
    /// shape when the model is opened, `Model.init`).
    public var companion: String
    /// The token's experts ranked 0 ..< fullRank by mixing weight always use the full copy; nil: half of top-k.
    public var fullRank: Int?
    /// Share of the memory left for experts that the low-bit cache gets.
    public var shareOfBudget: Double
    /// The default `shareOfBudget`.
    public static let defaultShare = 0.25
    public init(companion: String, fullRank: Int? = nil, shareOfBudget: Double = defaultShare) {
        (self.companion, self.fullRank, self.shareOfBudget) = (companion, fullRank, shareOfBudget)
    }
    /// The full-copy ranks for top-`k` routing.
    public func fullRank(k: Int) -> Int { min(k, fullRank ?? (k + 1) / 2) }
}

public enum CompressionChoice: String, Sendable, CaseIterable, Codable {
    case auto, on, off
}

/// Where the budget went, decided when the cache is made (at the first forward pass, once the inference
/// state exists and is counted in the process's resident memory).
public struct BudgetPlan: Codable, Sendable {
    /// The budget, bytes (nil: none).
    public var budgetBytes: Int?
    /// Resident memory of the process before the cache: runtime, tokenizer, resident weights, KV cache and
    /// scratch (read from /proc/self/statm).
    public var processBytes: Int
    /// Of which the non-expert weights copied into memory.
    public var residentWeightBytes: Int
    /// Kept free for what grows later (thread stacks, allocator slack, I/O threads).
    public var marginBytes: Int
    /// One ready-tier slot (an expert's three matrices, each in an aligned region).
    public var slotBytes: Int
    /// Slots of the ready tier.
    public var slots: Int
    /// All experts of the model, and how many there are.
    public var expertBytes: Int
    public var experts: Int
    /// The compressed-RAM tier's bytes (0: none), and the compressed/raw ratio measured on a sample of this
    /// model's experts (nil: not measured).
    public var compressedTierBytes: Int
    public var compressionRatio: Double?
    /// Slots of the low-bit copies' cache (`--miss-precision low`) and bytes of one; 0 without.
    public var lowBitSlots = 0
    public var lowBitSlotBytes = 0
    /// Ready-tier bytes.
    public var readyTierBytes: Int { slots * slotBytes }

    enum CodingKeys: String, CodingKey {
        case budgetBytes = "budget_bytes", processBytes = "process_bytes", residentWeightBytes = "resident_weight_bytes"
        case marginBytes = "margin_bytes", slotBytes = "slot_bytes", slots, expertBytes = "expert_bytes", experts
        case compressedTierBytes = "compressed_tier_bytes", compressionRatio = "compression_ratio"
        case lowBitSlots = "low_bit_slots", lowBitSlotBytes = "low_bit_slot_bytes"
    }
}

/// A model's offloaded experts: their layout, and the cache made on first use within the budget.
public final class ExpertOffload: @unchecked Sendable {
    public let layout: ExpertLayout
    /// The companion's experts (`settings.lowBit`), checked against `layout`'s shapes.
    public let lowBitLayout: ExpertLayout?
    public let settings: OffloadSettings
    /// Bytes of the non-expert weights copied into memory.
    public let residentWeightBytes: Int
    /// Kept free beyond what the process holds when the cache is made: 24 MiB for what grows later (thread
    /// stacks, allocator slack, lazily made activation buffers), plus 1/256 of the budget for what the
    /// kernel charges beside the resident set (page tables: 8 bytes per 4 KiB page, 0.2%; slab). Measured:
    /// with 24 MiB alone, an 8 GiB run peaked at its cgroup's limit with 45 refused charges.
    public static func marginBytes(budget: Int?) -> Int { (24 << 20) + (budget ?? 0) / 256 }
    private let lock = NSLock()
    private var made: ExpertCache?
    private var madeLowBit: ExpertCache?
    public private(set) var plan: BudgetPlan?

    public init(layout: ExpertLayout, settings: OffloadSettings, residentWeightBytes: Int, lowBitLayout: ExpertLayout? = nil) throws {
        precondition((settings.lowBit == nil) == (lowBitLayout == nil), "ExpertOffload: low-bit settings without a companion layout")
        self.layout = layout
        self.lowBitLayout = lowBitLayout
        self.settings = settings
        self.residentWeightBytes = residentWeightBytes
        // Refuse an impossible budget now, before the caller allocates anything more; `cache()` checks
        // again with the inference state counted.
        if let budget = settings.budgetBytes {
            let minimum = ProcessMemory.residentBytes() + Self.marginBytes(budget: budget) + layout.expertsPerToken * slotBytesEstimate
            guard budget >= minimum else { throw tooSmall(budget, minimum, ProcessMemory.residentBytes()) }
        }
    }

    private var slotBytesEstimate: Int {
        (0 ..< 3).reduce(0) { sum, p in
            sum + ExpertFileReader.regionBytes(count: (0 ..< layout.ids).map { layout.part($0, p).count }.max() ?? 0)
        }
    }

    private func tooSmall(_ budget: Int, _ minimum: Int, _ process: Int) -> OffloadError {
        .budgetTooSmall(budget: budget, minimum: minimum, detail:
            "\(ByteSize.format(process)) held before the expert cache, of which \(ByteSize.format(residentWeightBytes)) non-expert weights; " +
            "\(ByteSize.format(Self.marginBytes(budget: budget))) margin; one layer's top-\(layout.expertsPerToken) experts \(ByteSize.format(layout.expertsPerToken * slotBytesEstimate))")
    }

    /// The cache, made on the first call: its slots are what the budget leaves after everything the process
    /// holds now (call it once the inference state exists), capped by `maxExperts` and the model's experts.
    /// `repackInPlace`: the first call's choice of `ExpertCacheOptions.repackInPlace` (for both caches).
    public func cache(repackInPlace: Bool = false) throws -> ExpertCache {
        lock.lock()
        defer { lock.unlock() }
        if let made { return made }
        let slot = slotBytesEstimate
        var options = settings.cache
        options.repackInPlace = repackInPlace
        var ratio: Double?
        if settings.compression != .off { ratio = try? measureCompression(level: options.compressionLevel) }
        // What the process holds now, after returning the allocator's freed memory to the system (a
        // loaded routing trace or the compression sample leave freed blocks that would otherwise be
        // counted now and not later, or the other way round).
        ProcessMemory.trim()
        let process = ProcessMemory.residentBytes()
        var slots = layout.ids
        var lowBitSlots = 0
        if let budget = settings.budgetBytes {
            let minimum = process + Self.marginBytes(budget: budget) + layout.expertsPerToken * slot
            guard budget >= minimum else { throw tooSmall(budget, minimum, process) }
            var free = budget - process - Self.marginBytes(budget: budget)
            if let low = settings.lowBit, let lowLayout = lowBitLayout {
                // The low-bit copies' share; each cache holds at least one layer's top-k.
                let lowSlot = ExpertCache.slotBytes(for: lowLayout)
                lowBitSlots = Self.lowBitSlots(free: free, share: low.shareOfBudget, lowSlotBytes: lowSlot, lowLayout: lowLayout)
                free -= lowBitSlots * lowSlot
                guard free >= layout.expertsPerToken * slot else {
                    throw tooSmall(budget, minimum + lowBitSlots * lowSlot, process)
                }
            }
            // Compressed tier: half of what the experts get, when they compress (or when asked), and when the
            // whole model does not fit raw anyway; the ready tier keeps at least two layers' top-k.
            let wanted = settings.compression == .on || (settings.compression == .auto && (ratio ?? 1) < Compressibility.worthwhileRatio)
            if wanted, free < layout.totalBytes, free / 2 >= 2 * layout.expertsPerToken * slot {
                options.compressedTierBytes = free / 2
                free -= options.compressedTierBytes
            }
            slots = min(slots, free / max(slot, 1))
        }
        if let m = settings.maxExperts {
            slots = min(slots, max(m, layout.expertsPerToken))
            // Without a budget, the low-bit copies take their share of the bytes of `m` slots, so that a
            // comparison at the same --cache-experts is one at the same memory.
            if settings.budgetBytes == nil, let low = settings.lowBit, let lowLayout = lowBitLayout {
                let full = max(layout.expertsPerToken, Int((Double(slots) * (1 - low.shareOfBudget)).rounded()))
                lowBitSlots = min(lowLayout.ids, max(layout.expertsPerToken, (slots - full) * slot / max(ExpertCache.slotBytes(for: lowLayout), 1)))
                slots = full
            }
        }
        if let lowLayout = lowBitLayout, lowBitSlots > 0 {
            var lowOptions = options
            lowOptions.policy = .lfu
            lowOptions.compressedTierBytes = 0
            madeLowBit = try ExpertCache(layout: lowLayout, capacity: lowBitSlots, options: lowOptions)
        }
        let c = try ExpertCache(layout: layout, capacity: max(slots, 1), options: options)
        plan = BudgetPlan(budgetBytes: settings.budgetBytes, processBytes: process, residentWeightBytes: residentWeightBytes,
                          marginBytes: Self.marginBytes(budget: settings.budgetBytes), slotBytes: c.slotBytes, slots: c.capacity,
                          expertBytes: layout.totalBytes, experts: layout.ids,
                          compressedTierBytes: options.compressedTierBytes, compressionRatio: ratio,
                          lowBitSlots: lowBitSlots, lowBitSlotBytes: madeLowBit?.slotBytes ?? 0)
        made = c
        return c
    }

    /// zstd's compressed/raw ratio over up to 8 experts spread over the model (the first 256 KiB of each of
    /// their three matrices).
    public func measureCompression(level: Int32) throws -> Double {
        let moe = (0 ..< layout.ids).filter { layout.part($0, 0).count > 0 }
        guard !moe.isEmpty else { return 1 }
        let picks = (0 ..< min(8, moe.count)).map { moe[$0 * moe.count / min(8, moe.count)] }
        let reader = try ExpertFileReader(paths: layout.files)
        var buffers: [UnsafeMutableRawPointer] = [], samples: [UnsafeRawBufferPointer] = []
        defer { for b in buffers { b.deallocate() } }
        for id in picks {
            for p in 0 ..< 3 {
                let part = layout.part(id, p)
                let count = min(part.count, 256 << 10)
                let b = UnsafeMutableRawPointer.allocate(byteCount: ExpertFileReader.regionBytes(count: count),
                                                         alignment: ExpertFileReader.alignment)
                buffers.append(b)
                try reader.read(file: part.file, offset: part.offset, count: count, into: b)
                samples.append(UnsafeRawBufferPointer(start: b + ExpertFileReader.lead(offset: part.offset), count: count))
            }
        }
        return try Compressibility.ratio(samples: samples, level: level)
    }

    /// Slots of the low-bit copies' cache when `free` bytes are left for experts: `share` of them, at least one
    /// layer's top-k, at most every expert. The full copies get what remains.
    public static func lowBitSlots(free: Int, share: Double, lowSlotBytes: Int, lowLayout: ExpertLayout) -> Int {
        min(lowLayout.ids, max(lowLayout.expertsPerToken, Int(Double(free) * share) / max(lowSlotBytes, 1)))
    }

    /// The cache if made.
    public var existingCache: ExpertCache? { lock.lock(); defer { lock.unlock() }; return made }
    /// The low-bit copies' cache, made with the ready tier (`--miss-precision low`; nil otherwise).
    public var lowBitCache: ExpertCache? { lock.lock(); defer { lock.unlock() }; return madeLowBit }

    deinit {
        made?.shutdown()
        madeLowBit?.shutdown()
    }
}

/// The process's memory as the kernel counts it.
public enum ProcessMemory {
    /// Resident set size in bytes (anonymous and file-backed pages mapped by the process).
    public static func residentBytes() -> Int {
        #if os(Linux)
        if let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let f = s.split(separator: " ")
            if f.count > 1, let pages = Int(f[1]) { return pages * Int(sysconf(Int32(_SC_PAGESIZE))) }
        }
        #endif
        return peakResidentBytes()
    }

    /// Returns memory the allocator holds free to the system (glibc's malloc_trim), so that the resident
    /// set counts what is in use.
    public static func trim() {
        #if os(Linux)
        _ = glibcMallocTrim(0)
        #endif
    }

    /// Peak resident set size in bytes.
    public static func peakResidentBytes() -> Int {
        var u = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Int(u.ru_maxrss) * 1024
        #else
        getrusage(RUSAGE_SELF, &u)
        return Int(u.ru_maxrss)
        #endif
    }
}

#if os(Linux)
/// glibc's `int malloc_trim(size_t pad)` (malloc.h, which the Glibc module does not export).
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
