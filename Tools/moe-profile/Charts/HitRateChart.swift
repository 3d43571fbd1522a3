import Foundation

/// ChartPanel "Hit rate against cache budget": x = share of all experts the cache holds (0–100%),
/// y = hit rate (0–100%), one line with dots per policy, live measurements as hollow diamonds.
enum HitRateChart {
    static func hitRate(_ curves: [ProfileFigures.Curve], live: [ProfileFigures.Point]) -> ChartPanel {
        var p = ChartPanel()
        let top = ChartText.panelTitle(&p.svg, "Hit rate against cache budget")
        guard !curves.isEmpty || !live.isEmpty else {
            p.height = top + ChartText.note(&p.svg, "no hit-rate curves in this profile", y: top + 4) + 16
            return p
        }
        let box = ChartBox(x: ChartLayout.left, y: top + 10, w: ChartLayout.plotWidth, h: 300)
        // Both axes span the whole 0...1 range so curves from different profiles compare by eye.
        let xs = ChartScale(d0: 0, d1: 1, r0: box.x, r1: box.right), ys = ChartScale(d0: 0, d1: 1, r0: box.bottom, r1: box.y)
        let ticks = ChartTicks.values(0, 1, step: 0.1), labels = ticks.map { ChartTicks.percent($0, step: 0.1) }
        let below = ChartAxes.x(&p.svg, box, xs: ticks.map { xs($0) }, labels: labels,
                           title: "cache budget (share of all experts held)", grid: true)
        ChartAxes.y(&p.svg, box, scale: ys, ticks: ticks, labels: labels, title: "hit rate")

        let colors = ChartPalette.policyColors(curves.map(\.policy) + live.map(\.policy))
        func px(_ budget: Double, _ rate: Double) -> (x: Double, y: Double) {
            (xs(min(1, max(0, budget))), ys(min(1, max(0, rate))))   // out-of-range values sit on the frame
        }
        var legend: [ChartLegendItem] = [], drawn: [[(x: Double, y: Double)]] = []   // px polylines, to keep labels off
        for curve in curves {
            let color = colors[curve.policy] ?? ChartLayout.axis
            // Belady's MIN needs the future, so it is the offline optimum: dashed, as a bound, not a policy.
            let dashed = curve.policy.lowercased() == "belady"
            let pairs = zip(curve.budgets, curve.hitRates).filter { $0.0.isFinite && $0.1.isFinite }.sorted { $0.0 < $1.0 }
            drawn.append(pairs.map { px($0.0, $0.1) })
            p.svg.polyline(drawn[drawn.count - 1], stroke: color, width: 2.5, dash: dashed ? "7 5" : nil)
            for (budget, rate) in pairs {
                let pt = px(budget, rate)
                p.svg.circle(pt.x, pt.y, r: 3.5, fill: color, tooltip: "\(curve.policy): budget "
                             + "\(ChartTicks.fixed(budget * 100, 1))% → hit rate \(ChartTicks.fixed(rate * 100, 1))%")
            }
            if pairs.isEmpty { continue }   // nothing drawn, nothing to name
            legend.append(ChartLegendItem(name: dashed ? "\(curve.policy) (offline optimum)" : curve.policy,
                                     color: color, mark: .lineDot(dashed: dashed)))
        }
        let shown = live.filter { $0.budget.isFinite && $0.hitRate.isFinite }
        let diamonds = shown.map { px($0.budget, $0.hitRate) }
        var taken: [Box] = []
        for (point, pt) in zip(shown, diamonds) {
            let color = colors[point.policy] ?? ChartLayout.axis
            p.svg.diamond(pt.x, pt.y, r: 6.5, fill: "#ffffff", stroke: color, width: 2,
                          tooltip: "live \(point.policy): budget \(ChartTicks.fixed(point.budget * 100, 1))% → "
                                + "hit rate \(ChartTicks.fixed(point.hitRate * 100, 1))%")
            let spot = labelSpot(at: pt, lines: drawn, markers: diamonds, taken: taken, inside: box)
            taken.append(spot)
            p.svg.text("live", spot.x + 1, spot.y + spot.h - 1, size: 10, fill: color, bold: true)
        }
        if !live.isEmpty {
            legend.append(ChartLegendItem(name: "live run (measured)", color: ChartLayout.axis, mark: .hollowDiamond))
        }
        var y = box.bottom + below + 16
        y += ChartLegend.row(&p.svg, legend, x: box.x, y: y, width: box.w) + 6
        var caption = "Share of expert requests served from the cache (or served without waiting), against the"
            + " share of all experts the cache may hold."
        if curves.contains(where: { $0.policy.lowercased() == "belady" }) {
            caption += " Belady (dashed) evicts the expert needed furthest in the future: an offline optimum that"
                + " no real policy can beat."
        }
        if !live.isEmpty { caption += " Hollow diamonds: hit rates measured in live runs, in their policy's color." }
        y += ChartText.caption(&p.svg, caption, y: y + 4)
        p.height = y + 8
        return p
    }

    struct Box { var x, y, w, h: Double }

    /// Where the "live" label of a marker at `pt` goes: the first of eight spots around it that stays in
    /// the plot and clears the curves (sampled every 2 px), the diamonds and labels already placed;
    /// failing that, the spot with the fewest clashes.
    static func labelSpot(at pt: (x: Double, y: Double), lines: [[(x: Double, y: Double)]],
                          markers: [(x: Double, y: Double)], taken: [Box], inside box: ChartBox) -> Box {
        let w = SVGWriter.textWidth("live", size: 10) + 2, h = 10.0, d = 9.0
        let spots = [(d, -h / 2), (-d - w, -h / 2), (d - 2, d - 2), (-d - w + 2, -d - h + 2),
                     (d - 2, -d - h + 2), (-d - w + 2, d - 2), (-w / 2, d + 2), (-w / 2, -d - h - 2)]
            .map { Box(x: pt.x + $0.0, y: pt.y + $0.1, w: w, h: h) }
        func hits(_ b: Box, _ q: (x: Double, y: Double), pad: Double) -> Bool {
            q.x > b.x - pad && q.x < b.x + b.w + pad && q.y > b.y - pad && q.y < b.y + b.h + pad
        }
        func clashes(_ b: Box) -> Int {
            guard b.x >= box.x, b.x + b.w <= box.right, b.y >= box.y, b.y + b.h <= box.bottom else { return 1000 }
            var n = markers.filter { ($0.x != pt.x || $0.y != pt.y) && hits(b, $0, pad: 7) }.count
            n += taken.filter { $0.x < b.x + b.w && b.x < $0.x + $0.w && $0.y < b.y + b.h && b.y < $0.y + $0.h }.count * 10
            for line in lines {
                for (a, c) in zip(line, line.dropFirst()) {
                    let steps = max(1, Int(hypot(c.x - a.x, c.y - a.y) / 2))
                    for i in 0...steps {
                        let t = Double(i) / Double(steps)
                        if hits(b, (a.x + (c.x - a.x) * t, a.y + (c.y - a.y) * t), pad: 2) { n += 1 }
                    }
                }
                n += line.filter { hits(b, $0, pad: 4) }.count * 5      // the dots on the curves
            }
            return n
        }
        let scored = spots.map { ($0, clashes($0)) }
        return (scored.first { $0.1 == 0 } ?? scored.min { $0.1 < $1.1 }!).0
    }
}
