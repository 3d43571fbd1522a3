/// Median and spread of repeated measurements. Spread is reported as the range (min … max) and as the
/// half-range relative to the median (±%), which with 3–10 repetitions says more than a standard deviation.
struct Summary: Codable {
    let median: Double
    let min: Double
    let max: Double
    let samples: [Double]

    init(_ samples: [Double]) {
        let s = samples.sorted()
        self.samples = samples
        min = s.first ?? .nan
        max = s.last ?? .nan
        median = s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Half the range as a percentage of the median.
    var spreadPercent: Double { median > 0 ? (max - min) / 2 / median * 100 : 0 }
}
