/// OpenAI's `stop`: generation ends where the text first contains one of the strings, which is not returned.
/// Text that may be the start of a stop string is held back until the next piece decides it, so a stream
/// never sends what the stop string later takes away.
struct StopStringFilter: Sendable {
    let stops: [String]
    private var held = ""
    private(set) var stopped = false

    init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// The text that can be sent now; after a stop string is found, `stopped` is true and later input is dropped.
    mutating func feed(_ piece: String) -> String {
        guard !stopped else { return "" }
        guard !stops.isEmpty else { return piece }
        held += piece
        if let cut = stops.compactMap({ held.range(of: $0)?.lowerBound }).min() {
            stopped = true
            let out = String(held[..<cut])
            held = ""
            return out
        }
        // Hold back the longest tail that some stop string begins with.
        var keep = 0
        for stop in stops {
            for n in stride(from: min(stop.count - 1, held.count), to: keep, by: -1) where held.hasSuffix(stop.prefix(n)) {
                keep = n
                break
            }
        }
        let out = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return out
    }

    /// What is still held at the end of generation (no stop string completed it).
    mutating func finish() -> String {
        defer { held = "" }
        return stopped ? "" : held
    }
}
