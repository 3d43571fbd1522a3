import Foundation

/// ChartPanel "Reuse distance": requests per reuse-distance bin (bins log-spaced, drawn equally wide), with
/// dashed lines where an LRU cache of 12.5/25/50/75% of all experts stops hitting.
enum ReuseDistanceChart {
    static let barColor = "#4c78a8", markerColor = "#c0392b"
    /// Cache sizes marked on the axis, as shares of all experts.
    static let markedShares = [0.125, 0.25, 0.5, 0.75]

    static func reuse(edges: [Int], counts: [Int], cold: Int, totalExperts: Int) -> ChartPanel {
        var p = ChartPanel()
        let top = ChartText.panelTitle(&p.svg, "Reuse distance")
        let n = counts.count
        guard n > 0 else {
            p.height = top + 4 + ChartText.note(&p.svg, "no reuse distances in this profile", y: top + 4) + 16
            return p
        }
        // The edges are trusted only when they fit the counts (one more edge than bins, ascending);
        // otherwise bins are just numbered and the budget lines are left out.
        let edgesFit = edges.count == n + 1 && zip(edges, edges.dropFirst()).allSatisfy { $0 < $1 }
        let labels: [String] = (0..<n).map { i in
            guard edgesFit else { return "bin \(i)" }
            let (lo, hi) = (edges[i], edges[i + 1])
            return hi - lo == 1 ? String(lo) : "\(lo)–\(hi - 1)"      // bin i is [lo, hi): integers lo...hi-1
        }
        let box = ChartBox(x: ChartLayout.left, y: top + 38, w: ChartLayout.plotWidth, h: 220)   // 2 label rows above
        let slot = box.w / Double(n)
        let (upper, step) = ChartTicks.zeroBased(max: Double(counts.max() ?? 0), minStep: 1)
        let ys = ChartScale(d0: 0, d1: upper, r0: box.bottom, r1: box.y)
        let ticks = ChartTicks.values(0, upper, step: step)
        ChartAxes.y(&p.svg, box, scale: ys, ticks: ticks, labels: ticks.map { ChartTicks.label($0, step: step) },
               title: "requests")
        let below = ChartAxes.x(&p.svg, box, xs: (0..<n).map { box.x + (Double($0) + 0.5) * slot }, labels: labels,
                           title: "reuse distance (distinct experts requested in between)")
        let requests = counts.reduce(0) { $0 + max(0, $1) } + max(0, cold)
        for (i, c) in counts.enumerated() where c > 0 {
            let h = box.bottom - ys(Double(c))
            let share = requests > 0 ? ChartTicks.fixed(Double(c) / Double(requests) * 100, 1) + "% of requests" : ""
            p.svg.rect(box.x + (Double(i) + 0.1) * slot, box.bottom - h, max(1, slot * 0.8), h, fill: barColor,
                       tooltip: "distance \(labels[i]): \(ChartText.grouped(c)) requests, \(share)")
        }

        // Budget lines. Bin i spans [edges[i], edges[i+1]) over the slot's width; a cache of C experts
        // hits distances < C, so its line sits that far into its bin (linearly: the share of the bin's
        // integer distances below C).
        if edgesFit, totalExperts > 0 {
            var rowEnds = [-Double.infinity, -Double.infinity]   // right end of the last label in each row
            for share in markedShares {
                let c = Double(totalExperts) * share
                guard c >= Double(edges[0]), c <= Double(edges[n]) else { continue }
                let i = min(n - 1, edges.lastIndex { Double($0) <= c } ?? 0)
                let f = (c - Double(edges[i])) / Double(edges[i + 1] - edges[i])
                let x = box.x + (Double(i) + f) * slot
                p.svg.line(x, box.y - 4, x, box.bottom, stroke: markerColor, width: 1.5, dash: "5 3")
                // Two label rows, the lower first; a label goes up when it would run into the previous one.
                let label = "\(ChartTicks.fixed(share * 100, share * 100 == (share * 100).rounded() ? 0 : 1))%"
                    + " = \(ChartText.grouped(Int(c.rounded())))"
                let w = SVGWriter.textWidth(label, size: ChartLayout.tickSize)
                let row = x - w / 2 > rowEnds[0] + 6 ? 0 : 1
                rowEnds[row] = x + w / 2
                p.svg.text(label, min(max(x, box.x + w / 2), box.right + ChartLayout.right - 4 - w / 2),
                           box.y - 8 - Double(row) * 14, size: ChartLayout.tickSize, anchor: .middle, fill: markerColor)
            }
        }

        var caption = "Reuse distance of a request: the number of distinct experts requested since the same"
            + " expert's previous request. Bins are log-spaced but drawn equally wide."
        if edgesFit, totalExperts > 0 {
            caption += " An LRU cache holding C experts hits exactly the requests with distance below C: the"
                + " dashed lines mark C at 12.5%, 25%, 50% and 75% of all \(ChartText.grouped(totalExperts)) experts."
        }
        let coldShare = requests == 0 ? ""
            : " (\(ChartTicks.fixed(Double(cold) / Double(requests) * 100, 1))% of all requests)"
        caption += " Cold requests (an expert's first request, a miss at any cache size): \(ChartText.grouped(cold))"
            + "\(coldShare), not drawn."
        let y = box.bottom + below + 14
        p.height = y + ChartText.caption(&p.svg, caption, y: y) + 8
        return p
    }
}
