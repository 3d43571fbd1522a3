import Foundation

/// The report of `moe-profile` as one self-contained SVG (no external fonts, scripts or styles):
/// a heading, then four panels stacked vertically, 900 px wide. Every panel is always present; one
/// whose data is missing shows a short note instead of empty axes, so reports line up with each other.
enum SVGReport {
    static func render(_ f: ProfileFigures) -> String {
        let panels = [
            heading(f),
            HitRateChart.hitRate(f.curves, live: f.livePoints),
            ExpertUseHeatmap.expertUse(f.useCounts),
            StallChart.stall(seconds: f.stallSecondsPerLayer, hitRate: f.hitRatePerLayer, recall: f.recallPerLayer),
            ReuseDistanceChart.reuse(edges: f.reuseBinEdges, counts: f.reuseCounts, cold: f.coldRequests,
                            totalExperts: f.totalExperts),
        ]
        var svg = SVGWriter(), y = 0.0
        for (i, panel) in panels.enumerated() {
            if i > 1 {   // a rule between panels (the heading ends with its own)
                svg.line(ChartLayout.inset, y + 4, ChartLayout.width - ChartLayout.inset, y + 4, stroke: "#d0d0d0")
            }
            svg.append(panel.svg, dy: y)
            y += panel.height + (i == 0 ? 0 : 10)
        }
        return svg.document(width: ChartLayout.width, height: y + 6)
    }

    /// Title (wrapped if long) and subtitle lines, then a rule.
    static func heading(_ f: ProfileFigures) -> ChartPanel {
        var p = ChartPanel()
        let x = ChartLayout.inset, width = ChartLayout.width - 2 * x
        var y = 34.0
        for line in SVGWriter.wrap(f.title.isEmpty ? "moe-profile" : f.title, width: width, size: ChartLayout.titleSize) {
            p.svg.text(line, x, y, size: ChartLayout.titleSize, bold: true)
            y += 26
        }
        for entry in f.subtitle {
            for line in SVGWriter.wrap(entry, width: width, size: 13) {
                p.svg.text(line, x, y, size: 13, fill: ChartLayout.muted)
                y += 18
            }
        }
        p.svg.line(x, y, x + width, y, stroke: "#bbbbbb", width: 1.5)
        p.height = y + 4
        return p
    }
}
