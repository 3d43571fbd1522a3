import Foundation

/// A size that does not parse: the text and why, as one line.
public struct ByteSizeError: Error, CustomStringConvertible, Equatable, Sendable {
    public let text: String
    public let why: String
    public var description: String { "invalid size '\(text)': \(why)" }
}

/// Sizes in bytes as people write them: `1.5GiB`, `1536MiB`, `1GB`, `1G`, `4096`.
///
/// Units (letters in any case): `B` or none = bytes; `KiB MiB GiB TiB` = powers of 1024; the single
/// letters `K M G T` are the same powers of 1024 (as `ulimit`, `docker --memory` and the kernel's own
/// `memparse` read them); `KB MB GB TB` = powers of 1000. A fraction is allowed with a unit
/// (`1.5GiB` = 1,610,612,736 bytes, rounded down to a whole byte) but not on a bare byte count.
public enum ByteSize {
    static let units: [String: Int] = [
        "": 1, "b": 1,
        "k": 1 << 10, "kib": 1 << 10, "kb": 1_000,
        "m": 1 << 20, "mib": 1 << 20, "mb": 1_000_000,
        "g": 1 << 30, "gib": 1 << 30, "gb": 1_000_000_000,
        "t": 1 << 40, "tib": 1 << 40, "tb": 1_000_000_000_000,
    ]

    /// Parses `text` into a positive number of bytes.
    public static func parse(_ text: String) throws(ByteSizeError) -> Int {
        let s = text.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> ByteSizeError { ByteSizeError(text: text, why: why) }
        guard !s.isEmpty else { throw bad("empty size") }
        if s.hasPrefix("-") { throw bad("a size must be positive") }
        let digits = s.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let unitText = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard let multiplier = units[unitText.lowercased()] else {
            throw bad("unknown unit '\(unitText)' (use B, KiB, MiB, GiB, TiB; K, M, G, T mean the same; KB, MB, GB, TB are powers of 1000)")
        }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        guard !digits.isEmpty, parts.count <= 2, !parts[0].isEmpty || (parts.count == 2 && !parts[1].isEmpty) else {
            throw bad("expected a number followed by an optional unit, as 1.5GiB or 1536MiB")
        }
        let whole = parts[0], fraction = parts.count == 2 ? parts[1] : ""
        if !fraction.isEmpty && multiplier == 1 { throw bad("a byte count must be whole") }

        // Exact integer arithmetic (no Double): whole × multiplier + fraction × multiplier / 10^digits.
        let tooLarge = bad("too large")
        var bytes = 0
        for d in whole {
            let (a, o1) = bytes.multipliedReportingOverflow(by: 10)
            let (b, o2) = a.addingReportingOverflow(Int(d.asciiValue! - 48))
            guard !o1, !o2 else { throw tooLarge }
            bytes = b
        }
        let (scaled, o) = bytes.multipliedReportingOverflow(by: multiplier)
        guard !o else { throw tooLarge }
        bytes = scaled
        if !fraction.isEmpty {
            // At most 12 fractional digits matter (multiplier ≤ 2^40 < 10^13); more cannot change the floor
            // by more than a byte, so they are cut to keep the product within Int.
            var numerator = 0, denominator = 1
            for d in fraction.prefix(12) { numerator = numerator * 10 + Int(d.asciiValue! - 48); denominator *= 10 }
            let part = numerator.multipliedFullWidth(by: multiplier)
            let (q, _) = denominator.dividingFullWidth(part)
            let (sum, o3) = bytes.addingReportingOverflow(q)
            guard !o3 else { throw tooLarge }
            bytes = sum
        }
        guard bytes > 0 else { throw bad("a size must be positive") }
        return bytes
    }

    /// `bytes` in the largest binary unit that keeps the number ≥ 1, two decimals: "1.50 GiB", "640.00 KiB",
    /// "512 B".
    public static func format(_ bytes: Int) -> String {
        let names = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = "B"
        for name in names where abs(value) >= 1024 {
            value /= 1024
            unit = name
        }
        if unit == "B" { return "\(bytes) B" }
        return String(format: "%.2f", value) + " " + unit
    }
}
