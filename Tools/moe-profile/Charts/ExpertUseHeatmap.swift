import Foundation

/// ChartPanel "Expert use per layer": a heatmap with a row per layer (layer 0 on top) and a column per
/// expert; the color is the expert's request count divided by the mean count of its layer's experts,
/// so layers with more traffic compare with the quiet ones and 1× always means an even share.
enum ExpertUseHeatmap {
    /// Cells beyond this count get no hover tooltips, to keep the file small (each one costs ~60 bytes).
    static let tooltipLimit = 20_000
    static let zeroColor = "#c8c8c8"

    static func expertUse(_ counts: [[Int]]) -> ChartPanel {
        var p = ChartPanel()
        let top = ChartText.panelTitle(&p.svg, "Expert use per layer")
        let layers = counts.count, experts = counts.map(\.count).max() ?? 0
        guard layers > 0, experts > 0 else {
            p.height = top + 4 + ChartText.note(&p.svg, "no expert use counts in this profile", y: top + 4) + 16
            return p
        }
        // Use relative to each layer's mean; a layer with no requests at all reads 0 (gray) everywhere.
        let ratios: [[Double]] = counts.map { row in
            let mean = Double(row.reduce(0) { $0 + max(0, $1) }) / Double(max(1, row.count))
            return row.map { mean > 0 ? Double(max(0, $0)) / mean : 0 }
        }
        // Color: log2 of the ratio over -e...e (1/2^e× to 2^e×), so 1× sits mid-scale and halving a share
        // moves the color as far as doubling it (loads span orders of magnitude; a linear scale left all
        // but the hottest cells pale). e covers 99% of the spread either way, 1...6; the rest take the end
        // colors. Never-requested experts (ratio 0, no logarithm) are gray.
        let all = Array(ratios.joined())
        let spread = all.filter { $0 > 0 }.map { max($0, 1 / $0) }.sorted()
        let q = spread.isEmpty ? 2 : spread[Int(Double(spread.count - 1) * 0.99)]
        let e = min(6, max(1, Int((log2(q) - 1e-9).rounded(.up))))
        let limit = Double(1 << e), peak = all.max() ?? 0
        let clipped = (low: all.contains { $0 > 0 && $0 < 1 / limit }, high: peak > limit)
        func color(_ r: Double) -> String {
            r > 0 ? ChartPalette.sequential((log2(r) + Double(e)) / Double(2 * e)) : zeroColor
        }

        // Cells: the plot width split evenly among experts (fractional px are fine in SVG); rows 7–30 px
        // high, aiming at about 240 px for the whole map.
        let cellW = ChartLayout.plotWidth / Double(experts)
        let cellH = min(30, max(7, 240 / Double(layers)))
        let box = ChartBox(x: ChartLayout.left, y: top + 12, w: ChartLayout.plotWidth, h: cellH * Double(layers))
        let tooltips = layers * experts <= tooltipLimit
        for (l, row) in ratios.enumerated() {
            for (x, r) in row.enumerated() {
                // Half a px of overlap (except at the far edges) hides antialiasing seams between cells.
                let w = cellW + (x < experts - 1 ? 0.5 : 0), h = cellH + (l < layers - 1 ? 0.5 : 0)
                p.svg.rect(box.x + Double(x) * cellW, box.y + Double(l) * cellH, w, h, fill: color(r),
                           tooltip: tooltips ? "layer \(l), expert \(x): \(ChartText.grouped(counts[l][x])) requests"
                                              + " (\(ChartTicks.fixed(r, 2))× layer mean)" : nil)
            }
        }
        p.svg.rect(box.x, box.y, box.w, box.h, fill: "none", stroke: "#999999")

        // Row labels: every layer, or every 2nd/5th/10th… when rows are shorter than the text.
        let everyRow = ChartTicks.every(slot: cellH, minSpacing: 13)
        var widest = 0.0
        for l in stride(from: 0, to: layers, by: everyRow) {
            let y = box.y + (Double(l) + 0.5) * cellH
            p.svg.line(box.x - 4, y, box.x, y, stroke: ChartLayout.axis)
            p.svg.text(String(l), box.x - 7, y + ChartLayout.tickSize * 0.35, size: ChartLayout.tickSize, anchor: .end,
                       fill: ChartLayout.muted)
            widest = max(widest, SVGWriter.textWidth(String(l), size: ChartLayout.tickSize))
        }
        p.svg.text("layer", box.x - 7 - widest - 10, box.y + box.h / 2, size: ChartLayout.axisTitleSize, anchor: .middle,
                   rotate: -90)
        let everyCol = ChartTicks.every(slot: cellW, minSpacing: 30)
        let cols = stride(from: 0, to: experts, by: everyCol).map { $0 }
        let below = ChartAxes.x(&p.svg, box, xs: cols.map { box.x + (Double($0) + 0.5) * cellW },
                           labels: cols.map(String.init), title: "expert")

        // The color bar keeps a readable height beside short maps (it may reach down beside the x labels).
        let barH = max(box.h, 100)
        colorBar(&p.svg, x: box.right + 12, y: box.y, h: barH, e: e, clipped: clipped)

        let cells = counts.joined().count, unused = counts.joined().filter { $0 <= 0 }.count
        var caption = "Color: requests routed to the expert divided by the mean over its layer's experts, on a log"
            + " scale (1× = an even share, mid-scale; light = rarely used, dark = hot; gray = never requested)."
        if clipped.low || clipped.high {
            caption += " Shares beyond 1/\(1 << e)×–\(1 << e)× take the end colors."
        }
        if peak > 0 { caption += " The busiest expert drew \(ChartTicks.fixed(peak, 1))× its layer's mean." }
        caption += " \(ChartText.grouped(unused)) of \(ChartText.grouped(cells)) (layer, expert) pairs were never requested."
        let y = max(box.bottom + below, box.y + barH + 30) + 14
        p.height = y + ChartText.caption(&p.svg, caption, y: y) + 8
        return p
    }

    /// A vertical color bar for 1/2^e× (bottom) to 2^e× (top), labelled at powers of two ("≥"/"≤" at
    /// the ends when cells lie beyond), and a gray swatch for "never" below it.
    static func colorBar(_ svg: inout SVGWriter, x: Double, y: Double, h: Double, e: Int,
                         clipped: (low: Bool, high: Bool)) {
        let steps = 48, w = 14.0
        for i in 0..<steps {   // bottom to top, each band in the color of its middle
            let t0 = Double(i) / Double(steps)
            svg.rect(x, y + h * (1 - t0 - 1 / Double(steps)), w, h / Double(steps) + 0.5,
                     fill: ChartPalette.sequential(t0 + 0.5 / Double(steps)))
        }
        svg.rect(x, y, w, h, fill: "none", stroke: "#999999")
        // Label every k-th power of two, k chosen so labels stand at least 14 px apart; 1× always.
        let k = max(1, Int((14 / (h / Double(2 * e))).rounded(.up)))
        for p in -e...e where p % k == 0 {
            let ty = y + h * (1 - Double(p + e) / Double(2 * e))
            svg.line(x + w, ty, x + w + 3, ty, stroke: ChartLayout.axis)
            var label = p >= 0 ? "\(1 << p)×" : "1/\(1 << -p)×"
            if p == e, clipped.high { label = "≥" + label }
            if p == -e, clipped.low { label = "≤" + label }
            svg.text(label, x + w + 5, ty + ChartLayout.tickSize * 0.35, size: ChartLayout.tickSize, fill: ChartLayout.muted)
        }
        svg.text("× mean", x - 4, y - 12, size: ChartLayout.tickSize, fill: ChartLayout.muted)
        svg.rect(x, y + h + 10, w, 10, fill: zeroColor, stroke: "#999999")
        svg.text("never", x + w + 5, y + h + 19, size: ChartLayout.tickSize, fill: ChartLayout.muted)
    }
}
