import Foundation
import MoEStore

/// The disk's bandwidth as the expert cache sees it: `threads` threads reading random experts' matrices
/// with the engine's reader (O_DIRECT where the file system allows), for about `seconds`.
enum DiskProbe {
    static func expertReadBandwidth(layout: ExpertLayout, threads: Int, seconds: Double) throws -> Double {
        let reader = try ExpertFileReader(paths: layout.files)
        let ids = (0 ..< layout.ids).filter { layout.bytes(of: $0) > 0 }
        guard !ids.isEmpty else { return .infinity }
        let largest = layout.parts.map(\.count).max() ?? 0
        let lock = NSLock()
        nonisolated(unsafe) var bytes = 0
        nonisolated(unsafe) var failure: Error?
        let deadline = Date().addingTimeInterval(seconds)
        let group = DispatchGroup()
        let start = Date()
        for t in 0 ..< threads {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                let buffer = UnsafeMutableRawPointer.allocate(byteCount: ExpertFileReader.regionBytes(count: largest), alignment: ExpertFileReader.alignment)
                defer { buffer.deallocate() }
                var rng = SystemRandomNumberGenerator()
                var mine = 0
                while Date() < deadline {
                    let id = ids.randomElement(using: &rng)!
                    for p in 0 ..< 3 {
                        let part = layout.part(id, p)
                        do { try reader.read(file: part.file, offset: part.offset, count: part.count, into: buffer) } catch {
                            lock.withLock { failure = error }
                            return
                        }
                        mine += part.count
                    }
                }
                lock.withLock { bytes += mine }
            }
            thread.name = "disk-probe-\(t)"
            thread.start()
        }
        group.wait()
        if let failure { throw failure }
        return Double(bytes) / Date().timeIntervalSince(start)
    }
}
