import Foundation
import MoEStore
import Testing

/// Seeded SplitMix64: reproducible test data.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Standard normal (Box-Muller).
    mutating func gaussian() -> Float {
        let u = Double.random(in: Double.ulpOfOne ..< 1, using: &self), v = Double.random(in: 0 ..< 1, using: &self)
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }
}

private func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var g = SplitMix(state: seed)
    return (0 ..< n).map { _ in UInt8.random(in: 0 ... 255, using: &g) }
}

/// Q4_0 blocks: an fp16 scale (amax/8 of 32 weights ~ N(0, 0.02)) then 16 bytes of random 4-bit codes.
private func q4_0Like(blocks: Int, seed: UInt64) -> [UInt8] {
    var g = SplitMix(state: seed)
    var out: [UInt8] = []
    out.reserveCapacity(blocks * 18)
    for _ in 0 ..< blocks {
        let amax = (0 ..< 32).map { _ in abs(g.gaussian()) * 0.02 }.max()!
        let bits = Float16(amax / 8).bitPattern
        out += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
        for _ in 0 ..< 16 { out.append(UInt8.random(in: 0 ... 255, using: &g)) }
    }
    return out
}

/// bf16 weights ~ N(0, 0.02): the upper halves of float32 bits, little-endian.
private func bf16Gaussian(_ n: Int, seed: UInt64) -> [UInt8] {
    var g = SplitMix(state: seed)
    var out: [UInt8] = []
    out.reserveCapacity(2 * n)
    for _ in 0 ..< n {
        let bits = UInt16((g.gaussian() * 0.02).bitPattern >> 16)
        out += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
    }
    return out
}

private func compress(_ raw: [UInt8], level: Int32 = 3) throws -> [UInt8] {
    var dst = [UInt8](repeating: 0, count: Zstd.compressBound(raw.count))
    let n = try raw.withUnsafeBytes { src in try dst.withUnsafeMutableBytes { try Zstd.compress(src, into: $0, level: level) } }
    return Array(dst[..<n])
}

private func decompress(_ frame: [UInt8], size: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: size)
    let n = try frame.withUnsafeBytes { src in try out.withUnsafeMutableBytes { try Zstd.decompress(src, into: $0) } }
    #expect(n == size)
    return out
}

@Suite struct ZstdTests {
    @Test(arguments: [0, 1, 1000, 128 * 1024 - 1, 128 * 1024 + 1, 1 << 20])
    func roundTripRandom(size: Int) throws {
        let raw = randomBytes(size, seed: UInt64(size))
        let frame = try compress(raw)
        #expect(frame.count <= Zstd.compressBound(size))
        #expect(try decompress(frame, size: size) == raw)
    }

    @Test func roundTripCompressible() throws {
        let raw = bf16Gaussian(1 << 18, seed: 1) + [UInt8](repeating: 7, count: 100_000)
        for level: Int32 in [-5, 1, 3, 9] {
            let frame = try compress(raw, level: level)
            // Negative levels don't entropy-code literals: only the repeated run shrinks there.
            #expect(frame.count < (level > 0 ? raw.count * 3 / 4 : raw.count * 9 / 10))
            #expect(try decompress(frame, size: raw.count) == raw)
        }
    }

    @Test func contextReuse() throws {
        let context = ZstdContext()
        for size in [5000, 0, 70000, 123] {
            let raw = bf16Gaussian(size, seed: UInt64(size))
            var frame = [UInt8](repeating: 0, count: Zstd.compressBound(raw.count))
            let n = try raw.withUnsafeBytes { s in try frame.withUnsafeMutableBytes { try context.compress(s, into: $0, level: 3) } }
            var out = [UInt8](repeating: 0, count: raw.count)
            _ = try frame[..<n].withUnsafeBytes { s in try out.withUnsafeMutableBytes { try context.decompress(s, into: $0) } }
            #expect(out == raw)
        }
        // A failed compression (dst too small) leaves the context usable.
        var tiny = [UInt8](repeating: 0, count: 4)
        #expect(throws: ZstdError.self) {
            try randomBytes(1000, seed: 2).withUnsafeBytes { s in try tiny.withUnsafeMutableBytes { try context.compress(s, into: $0, level: 3) } }
        }
        let raw = randomBytes(1000, seed: 3)
        var frame = [UInt8](repeating: 0, count: Zstd.compressBound(raw.count))
        let n = try raw.withUnsafeBytes { s in try frame.withUnsafeMutableBytes { try context.compress(s, into: $0, level: 3) } }
        #expect(try decompress(Array(frame[..<n]), size: raw.count) == raw)
    }

    /// Every single-byte corruption of a frame throws (the content checksum catches the ones zstd's
    /// structural checks can't), random data (stored blocks) and compressible data alike; so does every
    /// truncation and trailing garbage.
    @Test(arguments: [false, true])
    func corruptAndTruncatedThrow(compressible: Bool) throws {
        let raw = compressible ? bf16Gaussian(2000, seed: 4) : randomBytes(4000, seed: 4)
        let frame = try compress(raw)
        var g = SplitMix(state: 5)
        for i in frame.indices {
            var bad = frame
            bad[i] ^= UInt8.random(in: 1 ... 255, using: &g)
            #expect(throws: ZstdError.self) { _ = try decompress(bad, size: raw.count) }
        }
        for cut in [0, 1, 4, 8, frame.count / 2, frame.count - 4, frame.count - 1] {
            #expect(throws: ZstdError.self) { _ = try decompress(Array(frame[..<cut]), size: raw.count) }
        }
        #expect(throws: ZstdError.self) { _ = try decompress(frame + [0], size: raw.count) }
        #expect(throws: ZstdError.self) { _ = try decompress(randomBytes(1000, seed: 6), size: raw.count) }
    }

    @Test func wrongDestinationSizeThrows() throws {
        let raw = bf16Gaussian(1000, seed: 7)
        let frame = try compress(raw)
        for size in [0, raw.count - 1, raw.count + 1, 2 * raw.count] {
            #expect(throws: ZstdError.sizeMismatch(expected: size, actual: raw.count)) { _ = try decompress(frame, size: size) }
        }
        #expect(try decompress(frame, size: raw.count) == raw)
    }

    /// A frame that does not declare its size (ours always do): zstd's own output checks decide.
    @Test func frameWithoutContentSize() throws {
        // Magic, header descriptor 0 (no size, no checksum), window 1 KB, one last raw block of 5 bytes.
        let frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 0x00, 5 << 3 | 1, 0, 0] + Array("hello".utf8)
        #expect(try decompress(frame, size: 5) == Array("hello".utf8))
        #expect(throws: ZstdError.sizeMismatch(expected: 6, actual: 5)) { _ = try decompress(frame, size: 6) }
        #expect(throws: ZstdError.self) { _ = try decompress(frame, size: 4) }
    }

    @Test func errorsNameTheZstdError() throws {
        var bad = try compress(randomBytes(100, seed: 8))
        bad[bad.count - 1] ^= 1 // the checksum
        do {
            _ = try decompress(bad, size: 100)
            Issue.record("no error")
        } catch let e as ZstdError {
            guard case let .decompress(name) = e else { Issue.record("\(e)"); return }
            #expect(name.lowercased().contains("checksum"))
            #expect(e.description.contains(name))
        }
    }

    @Test func ratios() throws {
        let q4 = q4_0Like(blocks: 1 << 15, seed: 9), bf16 = bf16Gaussian(1 << 18, seed: 10)
        let rq = try q4.withUnsafeBytes { try Compressibility.ratio(samples: [$0], level: 3) }
        let rb = try bf16.withUnsafeBytes { try Compressibility.ratio(samples: [$0, UnsafeRawBufferPointer(rebasing: $0[..<1000])], level: 3) }
        print("compressibility at level 3: Q4_0-like \(rq), bf16 Gaussian \(rb)")
        #expect(rq > 0.95)
        #expect(rb < 0.85)
        #expect(rq > Compressibility.worthwhileRatio && rb < Compressibility.worthwhileRatio)
        #expect(try Compressibility.ratio(samples: [], level: 3) == 1)
    }
}

@Suite struct CompressedTierTests {
    /// The reference: an LRU list (oldest first) of (id, bytes).
    struct Model {
        let capacity: Int
        var order: [(id: Int, bytes: Int)] = []
        var used: Int { order.reduce(0) { $0 + $1.bytes } }

        mutating func insert(_ id: Int, _ n: Int) -> Bool {
            order.removeAll { $0.id == id }
            guard n <= capacity else { return false }
            while used + n > capacity { order.removeFirst() }
            order.append((id, n))
            return true
        }

        mutating func use(_ id: Int) -> Bool {
            guard let i = order.firstIndex(where: { $0.id == id }) else { return false }
            order.append(order.remove(at: i))
            return true
        }
    }

    static func check(_ tier: CompressedTier, _ model: Model) {
        #expect(tier.usedBytes == model.used)
        #expect(tier.usedBytes <= tier.capacityBytes)
        #expect(tier.count == model.order.count)
        for id in 0 ..< tier.ids { #expect(tier.contains(id) == model.order.contains { $0.id == id }) }
    }

    @Test func lruOrder() throws {
        let raws = (0 ..< 6).map { bf16Gaussian(3000, seed: UInt64($0)) }
        let frames = try raws.map { try compress($0) }
        let tier = CompressedTier(ids: 6, capacityBytes: 3 * frames.map(\.count).max()! + 10)
        let context = ZstdContext()
        var out = [UInt8](repeating: 0, count: 6000)
        func insert(_ id: Int) -> Bool { frames[id].withUnsafeBytes { tier.insert(id, compressed: $0) } }
        func use(_ id: Int) throws -> Bool { try out.withUnsafeMutableBytes { try tier.decompress(id, into: $0, context: context) } }
        func resident() -> [Int] { (0 ..< 6).filter { tier.contains($0) } }

        #expect(insert(0) && insert(1) && insert(2))
        #expect(try use(0))
        #expect(out == raws[0])
        #expect(insert(3)) // evicts 1 (0 was used after 2's insertion)
        #expect(resident() == [0, 2, 3])
        #expect(insert(4)) // evicts 2
        #expect(resident() == [0, 3, 4])
        #expect(try use(3) && !use(2))
        #expect(insert(5)) // evicts 0
        #expect(resident() == [3, 4, 5])
        #expect(tier.usedBytes == frames[3].count + frames[4].count + frames[5].count)
        tier.remove(4)
        tier.remove(4)
        #expect(resident() == [3, 5] && tier.usedBytes == frames[3].count + frames[5].count)
    }

    /// Random inserts (sizes 0 to above the capacity, replacements included), uses and removals against the
    /// reference model: same residents and bytes after every step, never above the capacity.
    @Test func matchesModel() throws {
        let ids = 20, capacity = 10_000
        let tier = CompressedTier(ids: ids, capacityBytes: capacity)
        var model = Model(capacity: capacity)
        let context = ZstdContext()
        var g = SplitMix(state: 11)
        let junk = randomBytes(capacity + 100, seed: 12)
        var dst = [UInt8](repeating: 0, count: 16)
        for step in 0 ..< 3000 {
            let id = Int.random(in: 0 ..< ids, using: &g)
            switch Int.random(in: 0 ..< 10, using: &g) {
            case 0: tier.remove(id); model.order.removeAll { $0.id == id }
            case 1 ... 4:
                // Junk blobs: decompression throws, and a throwing use still counts as a use.
                let decompress = { try dst.withUnsafeMutableBytes { try tier.decompress(id, into: $0, context: context) } }
                if model.use(id) { #expect(throws: ZstdError.self) { _ = try decompress() } } else { #expect(try !decompress()) }
            default:
                let n = step % 97 == 0 ? capacity + Int.random(in: 0 ... 100, using: &g) : Int.random(in: 0 ... 3000, using: &g)
                let stored = junk.withUnsafeBytes { tier.insert(id, compressed: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                #expect(stored == model.insert(id, n))
            }
            Self.check(tier, model)
        }
    }

    @Test func tooLargeEvictsNothing() {
        let tier = CompressedTier(ids: 3, capacityBytes: 100)
        let bytes = [UInt8](repeating: 1, count: 101)
        #expect(bytes.withUnsafeBytes { tier.insert(0, compressed: UnsafeRawBufferPointer(rebasing: $0[..<60])) })
        #expect(bytes.withUnsafeBytes { tier.insert(1, compressed: UnsafeRawBufferPointer(rebasing: $0[..<40])) })
        #expect(!bytes.withUnsafeBytes { tier.insert(2, compressed: $0) })
        #expect(tier.contains(0) && tier.contains(1) && tier.usedBytes == 100)
        // A replacement frees the old blob's bytes first.
        #expect(bytes.withUnsafeBytes { tier.insert(0, compressed: UnsafeRawBufferPointer(rebasing: $0[..<60])) })
        #expect(tier.contains(1) && tier.usedBytes == 100 && tier.count == 2)
    }

    /// Eight threads insert, decompress (checking the bytes) and remove 48 experts in a tier holding about a
    /// third of them: every successful decompression gives the expert's bytes, the capacity holds
    /// throughout, and the final accounting equals the resident blobs' sizes. (Blobs evicted while being
    /// read, freed by their last reader: about 20 per run when instrumented.)
    @Test func concurrentUse() throws {
        let ids = 48
        // 16 to 110 KB raw: decompressions long enough that evictions hit blobs being read.
        let raws = (0 ..< ids).map { bf16Gaussian(8000 + 1000 * $0, seed: UInt64(100 + $0)) }
        let frames = try raws.map { try compress($0) }
        let tier = CompressedTier(ids: ids, capacityBytes: frames.reduce(0) { $0 + $1.count } / 3)
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var hits = 0, misses = 0, wrong = 0, errors = 0, overCapacity = 0
            func add(_ f: (Tally) -> Void) { lock.withLock { f(self) } }
        }
        let tally = Tally()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            let context = ZstdContext()
            var g = SplitMix(state: UInt64(1000 + thread))
            for _ in 0 ..< 1000 {
                let id = Int.random(in: 0 ..< ids, using: &g)
                switch Int.random(in: 0 ..< 20, using: &g) {
                case 0: tier.remove(id)
                case 1 ... 7: _ = frames[id].withUnsafeBytes { tier.insert(id, compressed: $0) }
                default:
                    var out = [UInt8](repeating: 0, count: raws[id].count)
                    do {
                        let hit = try out.withUnsafeMutableBytes { try tier.decompress(id, into: $0, context: context) }
                        tally.add { hit ? ($0.hits += 1) : ($0.misses += 1); if hit, out != raws[id] { $0.wrong += 1 } }
                    } catch {
                        tally.add { $0.errors += 1 }
                    }
                }
                if tier.usedBytes > tier.capacityBytes { tally.add { $0.overCapacity += 1 } }
            }
        }
        print("concurrent tier: \(tally.hits) hits, \(tally.misses) misses")
        #expect(tally.hits > 0 && tally.misses > 0)
        #expect(tally.wrong == 0 && tally.errors == 0 && tally.overCapacity == 0)
        let resident = (0 ..< ids).filter { tier.contains($0) }
        #expect(tier.count == resident.count)
        #expect(tier.usedBytes == resident.reduce(0) { $0 + frames[$1].count })
    }
}
