import Foundation

/// Shared pieces of the charts: layout constants, nice ticks, number labels, scales, axes, legends
/// and the sequential color scale. All sizes are px.
enum ChartLayout {
    static let width = 900.0
    /// Left margin: y tick labels plus the rotated axis title.
    static let left = 78.0
    /// Right margin: a secondary axis or a color bar, and half of the last x tick label.
    static let right = 78.0
    /// Left edge of titles and captions (they run wider than the plots).
    static let inset = 28.0
    static var plotWidth: Double { width - left - right }
    static let titleSize = 20.0, panelTitleSize = 16.0, axisTitleSize = 13.0, tickSize = 11.0, captionSize = 12.0
    static let grid = "#e3e3e3", axis = "#555", muted = "#555"
}

/// One stacked section of the report, drawn from its own top-left corner, and its height.
struct ChartPanel {
    var svg = SVGWriter()
    var height = 0.0
}

enum ChartTicks {
    /// A step of 1, 2 or 5 × 10^k giving at most about `target` intervals over `span`.
    static func step(span: Double, target: Int) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(max(target, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let f = raw / magnitude
        return (f <= 1.0001 ? 1 : f <= 2.0001 ? 2 : f <= 5.0001 ? 5 : 10) * magnitude
    }

    /// The multiples of `step` in lo...hi (with a little slack for rounding).
    static func values(_ lo: Double, _ hi: Double, step: Double) -> [Double] {
        guard step > 0, lo.isFinite, hi.isFinite, hi >= lo else { return [] }
        let first = (lo / step - 1e-9).rounded(.up), last = (hi / step + 1e-9).rounded(.down)
        guard last >= first, last - first < 1000 else { return [] }
        return stride(from: first, through: last, by: 1).map { $0 * step + 0 }   // + 0 turns -0 into 0
    }

    /// 0...max widened to a multiple of a nice step: (the upper end, the step). An all-zero or empty
    /// series gets 0...1 so the axis still draws; counts pass `minStep: 1` (no "0.2 requests").
    static func zeroBased(max value: Double, target: Int = 5, minStep: Double = 0) -> (upper: Double, step: Double) {
        guard value > 0, value.isFinite else { return (1, Swift.max(minStep, step(span: 1, target: target))) }
        let s = Swift.max(minStep, step(span: value, target: target))
        return ((value / s - 1e-9).rounded(.up) * s, s)
    }

    /// Decimals needed to tell ticks `step` apart (step 0.05 → 2, step 2 → 0).
    static func decimals(step: Double) -> Int {
        guard step > 0, step.isFinite else { return 0 }
        return max(0, Int((-log10(step) - 1e-9).rounded(.up)))
    }

    /// A tick label: "0.25", "1.5"; counts of ten thousand and more as "12k", "3.5M" to stay narrow.
    static func label(_ v: Double, step: Double) -> String {
        let magnitude = max(abs(v), step)
        if magnitude >= 1e7 { return fixed(v / 1e6, decimals(step: step / 1e6)) + "M" }
        if magnitude >= 1e4 { return fixed(v / 1e3, decimals(step: step / 1e3)) + "k" }
        return fixed(v, decimals(step: step))
    }

    /// A share 0...1 as a percentage label with the decimals its step needs ("12.5%").
    static func percent(_ v: Double, step: Double) -> String { fixed(v * 100, decimals(step: step * 100)) + "%" }

    static func fixed(_ v: Double, _ decimals: Int) -> String {
        let s = String(format: "%.\(decimals)f", v)
        return s.hasPrefix("-") && s.allSatisfy({ "-0.".contains($0) }) ? String(s.dropFirst()) : s   // no "-0.0"
    }

    /// Every how many categories to label so labels `minSpacing` px apart fit in `slot` px each:
    /// 1, 2, 5, 10, 20, ...
    static func every(slot: Double, minSpacing: Double) -> Int {
        guard slot > 0 else { return 1 }
        let need = minSpacing / slot
        if need <= 1 { return 1 }
        return Int(step(span: need, target: 1).rounded())
    }
}

/// A linear map from data values to px (the range may run backwards, as y does).
struct ChartScale {
    var d0: Double, d1: Double, r0: Double, r1: Double
    func callAsFunction(_ v: Double) -> Double {
        d1 == d0 ? r0 : r0 + (v - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// The plotting rectangle of a chart inside its panel.
struct ChartBox {
    var x: Double, y: Double, w: Double, h: Double
    var right: Double { x + w }
    var bottom: Double { y + h }
}

enum ChartAxes {
    /// Horizontal grid lines and tick labels for a y axis on the left or right of `box`; the title is
    /// rotated and centred on the axis.
    static func y(_ svg: inout SVGWriter, _ box: ChartBox, scale: ChartScale, ticks: [Double], labels: [String],
                  title: String, right: Bool = false, grid: Bool = true) {
        let size = ChartLayout.tickSize
        var widest = 0.0
        for (v, label) in zip(ticks, labels) {
            let y = scale(v)
            if grid, abs(y - box.bottom) > 0.5 { svg.line(box.x, y, box.right, y, stroke: ChartLayout.grid) }
            let x = right ? box.right + 4 : box.x - 4
            svg.line(x, y, right ? box.right : box.x, y, stroke: ChartLayout.axis)
            svg.text(label, right ? x + 3 : x - 3, y + size * 0.35, size: size, anchor: right ? .start : .end,
                     fill: ChartLayout.muted)
            widest = max(widest, SVGWriter.textWidth(label, size: size))
        }
        // Rotated titles: glyphs stand on the outer side of the baseline (rotate 90 puts them to its right).
        let x = right ? box.right + 7 + widest + 6 : box.x - 7 - widest - 10
        svg.text(title, x, box.y + box.h / 2, size: ChartLayout.axisTitleSize, anchor: .middle, rotate: right ? 90 : -90)
        svg.line(right ? box.right : box.x, box.y, right ? box.right : box.x, box.bottom, stroke: ChartLayout.axis)
    }

    /// Tick marks and labels under `box` at px positions `xs`, then the axis title; returns the px below
    /// the box that the axis used. Labels turn 40° when they would collide.
    @discardableResult
    static func x(_ svg: inout SVGWriter, _ box: ChartBox, xs: [Double], labels: [String], title: String,
                  grid: Bool = false) -> Double {
        let size = ChartLayout.tickSize
        let widest = labels.map { SVGWriter.textWidth($0, size: size) }.max() ?? 0
        let gaps = zip(xs, xs.dropFirst()).map { $1 - $0 }
        let rotated = widest + 6 > (gaps.min() ?? .infinity)
        for (x, label) in zip(xs, labels) {
            if grid, abs(x - box.x) > 0.5 { svg.line(x, box.y, x, box.bottom, stroke: ChartLayout.grid) }
            svg.line(x, box.bottom, x, box.bottom + 4, stroke: ChartLayout.axis)
            if rotated {
                svg.text(label, x + 3, box.bottom + 13, size: size, anchor: .end, fill: ChartLayout.muted, rotate: -40)
            } else {
                svg.text(label, x, box.bottom + 16, size: size, anchor: .middle, fill: ChartLayout.muted)
            }
        }
        svg.line(box.x, box.bottom, box.right, box.bottom, stroke: ChartLayout.axis)
        let labelDepth = rotated ? widest * sin(40 * .pi / 180) + size + 10 : 20
        svg.text(title, box.x + box.w / 2, box.bottom + labelDepth + 16, size: ChartLayout.axisTitleSize, anchor: .middle)
        return labelDepth + 22
    }
}

/// A legend entry: how its swatch is drawn and its name.
struct ChartLegendItem {
    enum Mark { case line(dashed: Bool), lineDot(dashed: Bool), box, hollowDiamond }
    var name: String
    var color: String
    var mark: Mark
}

enum ChartLegend {
    /// Draws the items left to right from (x, y) (y = text baseline), wrapping at `width`; returns the
    /// height used.
    static func row(_ svg: inout SVGWriter, _ items: [ChartLegendItem], x: Double, y: Double, width: Double) -> Double {
        let size = 12.0, swatch = 24.0, gap = 22.0, lineHeight = 20.0
        var cx = x, cy = y
        for item in items {
            let w = swatch + 6 + SVGWriter.textWidth(item.name, size: size)
            if cx > x, cx + w > x + width { cx = x; cy += lineHeight }
            let my = cy - size * 0.35
            switch item.mark {
            case .line(let dashed), .lineDot(let dashed):
                svg.line(cx, my, cx + swatch, my, stroke: item.color, width: 2.5, dash: dashed ? "6 4" : nil)
                if case .lineDot = item.mark { svg.circle(cx + swatch / 2, my, r: 3.5, fill: item.color) }
            case .box:
                svg.rect(cx + 5, my - 6, swatch - 10, 12, fill: item.color)
            case .hollowDiamond:
                svg.diamond(cx + swatch / 2, my, r: 6, fill: "#fff", stroke: item.color)
            }
            svg.text(item.name, cx + swatch + 6, cy, size: size)
            cx += w + gap
        }
        return cy - y + lineHeight
    }
}

/// Colors: fixed ones for the well-known cache policies, a palette for the rest, and a sequential
/// light-to-dark scale (ColorBrewer YlGnBu) for magnitudes.
enum ChartPalette {
    static let known: [String: String] = [
        "lru": "#1f77b4", "lfu": "#ff7f0e", "predictive": "#2ca02c", "belady": "#222222",
    ]
    static let others = ["#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]

    /// A color per policy name, in order of first appearance; unknown names take the palette in turn.
    static func policyColors(_ names: [String]) -> [String: String] {
        var colors: [String: String] = [:], next = 0
        for name in names where colors[name] == nil {
            if let c = known[name.lowercased()] { colors[name] = c; continue }
            colors[name] = others[next % others.count]
            next += 1
        }
        return colors
    }

    private static let ylGnBu: [(Double, Double, Double)] = [
        (255, 255, 217), (237, 248, 177), (199, 233, 180), (127, 205, 187), (65, 182, 196),
        (29, 145, 192), (34, 94, 168), (37, 52, 148), (8, 29, 88),
    ]

    /// t in 0...1 (clamped; NaN counts as 0) → "#rrggbb", light (low) to dark blue (high).
    static func sequential(_ t: Double) -> String {
        let t = t.isFinite ? min(1, max(0, t)) : 0
        let p = t * Double(ylGnBu.count - 1)
        let i = min(Int(p), ylGnBu.count - 2), f = p - Double(i)
        let (a, b) = (ylGnBu[i], ylGnBu[i + 1])
        func mix(_ u: Double, _ v: Double) -> Int { Int((u + (v - u) * f).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

enum ChartText {
    /// The panel's title at the top; returns the y where its content may start.
    static func panelTitle(_ svg: inout SVGWriter, _ title: String) -> Double {
        svg.text(title, ChartLayout.inset, 26, size: ChartLayout.panelTitleSize, bold: true)
        return 40
    }

    /// A wrapped caption in muted text from baseline `y`; returns the height used.
    static func caption(_ svg: inout SVGWriter, _ s: String, y: Double) -> Double {
        let lines = SVGWriter.wrap(s, width: ChartLayout.width - 2 * ChartLayout.inset, size: ChartLayout.captionSize)
        for (i, line) in lines.enumerated() {
            svg.text(line, ChartLayout.inset, y + Double(i) * 16, size: ChartLayout.captionSize, fill: ChartLayout.muted)
        }
        return Double(lines.count) * 16
    }

    /// A light box with a short note in place of a chart whose data is missing; returns its height.
    static func note(_ svg: inout SVGWriter, _ s: String, y: Double) -> Double {
        svg.rect(ChartLayout.left, y, ChartLayout.plotWidth, 56, fill: "#f6f6f6", stroke: "#dddddd")
        svg.text(s, ChartLayout.left + ChartLayout.plotWidth / 2, y + 33, size: 13, anchor: .middle, fill: ChartLayout.muted)
        return 56
    }

    /// Seconds as "2.35 s", or "12.5 ms" below one second.
    static func duration(_ seconds: Double) -> String {
        seconds >= 1 ? ChartTicks.fixed(seconds, 2) + " s" : ChartTicks.fixed(seconds * 1000, 1) + " ms"
    }

    /// 1234567 → "1,234,567" (grouping without locale, so reports read the same everywhere).
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }
}
