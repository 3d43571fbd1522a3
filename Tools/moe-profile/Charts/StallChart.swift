import Foundation

/// ChartPanel "Stall time per layer": bars of seconds stalled per layer (left axis) and, when given, hit rate
/// and predictor recall per layer as lines on a 0–100% axis on the right.
///
/// Stalls are only measured by live runs; a profile built from a trace has none. The panel is then
/// still drawn, with a note in place of the chart, so every report has the same four panels.
enum StallChart {
    static let barColor = "#f4a582", hitColor = "#1f4e9c", recallColor = "#2ca02c"

    static func stall(seconds: [Double], hitRate: [Double], recall: [Double]) -> ChartPanel {
        var p = ChartPanel()
        let top = ChartText.panelTitle(&p.svg, "Stall time per layer")
        guard !seconds.isEmpty else {
            var y = top + 4 + ChartText.note(&p.svg, "live runs only (moe-profile run)", y: top + 4) + 20
            y += ChartText.caption(&p.svg, "Seconds spent waiting for expert weights are measured by live runs only;"
                              + " this profile has none (it was built from a routing trace).", y: y)
            p.height = y + 8
            return p
        }
        let n = seconds.count
        // Entries beyond the layer count are ignored; NaN/negative seconds draw no bar.
        let hit = Array(hitRate.prefix(n)), rec = Array(recall.prefix(n))
        let box = ChartBox(x: ChartLayout.left, y: top + 10, w: ChartLayout.plotWidth, h: 220)
        let slot = box.w / Double(n)

        // Stalls under half a second read better in milliseconds.
        let longest = seconds.filter(\.isFinite).max() ?? 0
        let inMs = longest > 0 && longest < 0.5
        let unit = inMs ? "ms" : "s", values = seconds.map { inMs ? $0 * 1000 : $0 }
        let (upper, step) = ChartTicks.zeroBased(max: values.filter(\.isFinite).max() ?? 0)
        let ys = ChartScale(d0: 0, d1: upper, r0: box.bottom, r1: box.y)
        let ticks = ChartTicks.values(0, upper, step: step)
        ChartAxes.y(&p.svg, box, scale: ys, ticks: ticks, labels: ticks.map { ChartTicks.label($0, step: step) },
               title: "stalled (\(unit))")
        let every = ChartTicks.every(slot: slot, minSpacing: 26)
        let labelled = stride(from: 0, to: n, by: every).map { $0 }
        let below = ChartAxes.x(&p.svg, box, xs: labelled.map { box.x + (Double($0) + 0.5) * slot },
                           labels: labelled.map(String.init), title: "layer")

        for (i, v) in values.enumerated() where v.isFinite && v > 0 {
            let h = box.bottom - ys(min(v, upper))
            var tip = "layer \(i): \(ChartText.duration(seconds[i])) stalled"
            if i < hit.count, hit[i].isFinite { tip += ", served without waiting \(ChartTicks.fixed(hit[i] * 100, 1))%" }
            if i < rec.count, rec[i].isFinite { tip += ", recall \(ChartTicks.fixed(rec[i] * 100, 1))%" }
            p.svg.rect(box.x + (Double(i) + 0.15) * slot, box.bottom - h, max(1, slot * 0.7), h, fill: barColor,
                       tooltip: tip)
        }
        var legend = [ChartLegendItem(name: "stall (\(unit))", color: barColor, mark: .box)]
        // Shares per layer on a 0–100% axis at the right: (values, color, name, dashed), only those with data.
        let lines = [(hit, hitColor, "served without waiting", false), (rec, recallColor, "predictor recall", true)]
            .filter { $0.0.contains(where: \.isFinite) }
        if !lines.isEmpty {
            let rs = ChartScale(d0: 0, d1: 1, r0: box.bottom, r1: box.y)
            let pticks = ChartTicks.values(0, 1, step: 0.2)
            ChartAxes.y(&p.svg, box, scale: rs, ticks: pticks, labels: pticks.map { ChartTicks.percent($0, step: 0.2) },
                   title: lines.map { $0.2 == "predictor recall" ? "recall" : "served" }.joined(separator: " / "),
                   right: true, grid: false)
            for (shares, color, name, dashed) in lines {
                let dash = dashed ? "6 4" : nil
                func at(_ i: Int) -> (x: Double, y: Double) {
                    (box.x + (Double(i) + 0.5) * slot, rs(min(1, max(0, shares[i]))))
                }
                // NaN (e.g. no prediction for that layer) breaks the line instead of dropping it to zero.
                var run: [(x: Double, y: Double)] = []
                for i in shares.indices {
                    if shares[i].isFinite { run.append(at(i)); continue }
                    p.svg.polyline(run, stroke: color, dash: dash)
                    run = []
                }
                p.svg.polyline(run, stroke: color, dash: dash)
                for i in shares.indices where shares[i].isFinite {
                    p.svg.circle(at(i).x, at(i).y, r: min(3.5, slot / 3), fill: color,
                                 tooltip: "layer \(i): \(name) \(ChartTicks.fixed(shares[i] * 100, 1))%")
                }
                legend.append(ChartLegendItem(name: name, color: color, mark: .lineDot(dashed: dashed)))
            }
        }
        var y = box.bottom + below + 16
        y += ChartLegend.row(&p.svg, legend, x: box.x, y: y, width: box.w) + 6
        let total = seconds.filter { $0.isFinite && $0 > 0 }.reduce(0, +)
        var caption = "Time the forward pass waited for expert weights, per layer (live run; \(ChartText.duration(total))"
            + " in all)."
        if !lines.isEmpty {
            caption += " On the right axis: " + lines.map(\.2).joined(separator: " and ") + " per layer"
            if lines.contains(where: { $0.2 == "predictor recall" }) {
                caption += " (recall: share of the experts the layer used that the predictor had guessed)"
            }
            caption += "; gaps where a value is missing."
        }
        y += ChartText.caption(&p.svg, caption, y: y + 4)
        p.height = y + 8
        return p
    }
}
