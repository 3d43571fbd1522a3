import Foundation

/// A minimal SVG builder: elements are appended as text. Every attribute value and text node passes
/// through `escape`, so callers hand in raw strings (policy names, file paths) without worrying.
/// Coordinates are SVG user units, which are CSS pixels at the document's natural size.
struct SVGWriter {
    private(set) var markup = ""

    /// The five XML special characters as entities; control characters that XML 1.0 forbids are dropped.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A coordinate with at most one decimal ("12", "12.5"): a tenth of a pixel is below what anyone sees
    /// and keeps big heatmaps small. Non-finite values become 0, so one bad number cannot break the file.
    static func num(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        let r = (x * 10).rounded() / 10
        if r == r.rounded(), abs(r) < 1e15 { return String(Int(r)) }
        return String(format: "%.1f", r)
    }

    /// Estimated width in px of `s` at font size `size`. Sans-serif fonts average about 0.55–0.6 em per
    /// character (DejaVu Sans, the widest common fallback, is near 0.6), so layout errs on the wide side.
    static func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * size * 0.6 }

    /// Greedy word wrap to `width` px at font size `size`; words longer than a line (paths) are split.
    static func wrap(_ s: String, width: Double, size: Double) -> [String] {
        let perLine = max(8, Int(width / (size * 0.6)))
        var lines: [String] = [], line = ""
        for var word in s.split(separator: " ", omittingEmptySubsequences: true).map(String.init) {
            while word.count > perLine {                     // hard split of an overlong word
                if !line.isEmpty { lines.append(line); line = "" }
                lines.append(String(word.prefix(perLine)))
                word = String(word.dropFirst(perLine))
            }
            if line.isEmpty { line = word } else if line.count + 1 + word.count <= perLine { line += " " + word }
            else { lines.append(line); line = word }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    // MARK: Elements

    /// `<name a="v" ...>` with an optional tooltip (`<title>`, shown on hover in browsers) and text.
    mutating func element(_ name: String, _ attributes: [(String, String)], text: String? = nil, tooltip: String? = nil) {
        markup += "<" + name
        for (key, value) in attributes { markup += " \(key)=\"\(Self.escape(value))\"" }
        if text == nil && tooltip == nil { markup += "/>\n"; return }
        markup += ">"
        if let tooltip { markup += "<title>\(Self.escape(tooltip))</title>" }
        if let text { markup += Self.escape(text) }
        markup += "</\(name)>\n"
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String,
                       stroke: String? = nil, tooltip: String? = nil) {
        var a = [("x", Self.num(x)), ("y", Self.num(y)), ("width", Self.num(max(0, w))), ("height", Self.num(max(0, h))),
                 ("fill", fill)]
        if let stroke { a.append(("stroke", stroke)) }
        element("rect", a, tooltip: tooltip)
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String,
                       width: Double = 1, dash: String? = nil) {
        var a = [("x1", Self.num(x1)), ("y1", Self.num(y1)), ("x2", Self.num(x2)), ("y2", Self.num(y2)),
                 ("stroke", stroke), ("stroke-width", Self.num(width))]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("line", a)
    }

    /// An open polyline through `points` (px); fewer than two points draw nothing.
    mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 2, dash: String? = nil) {
        guard points.count >= 2 else { return }
        var a = [("points", points.map { "\(Self.num($0.x)),\(Self.num($0.y))" }.joined(separator: " ")),
                 ("fill", "none"), ("stroke", stroke), ("stroke-width", Self.num(width)), ("stroke-linejoin", "round")]
        if let dash { a.append(("stroke-dasharray", dash)) }
        element("polyline", a)
    }

    mutating func circle(_ cx: Double, _ cy: Double, r: Double, fill: String, stroke: String? = nil,
                         width: Double = 1, tooltip: String? = nil) {
        var a = [("cx", Self.num(cx)), ("cy", Self.num(cy)), ("r", Self.num(r)), ("fill", fill)]
        if let stroke { a += [("stroke", stroke), ("stroke-width", Self.num(width))] }
        element("circle", a, tooltip: tooltip)
    }

    /// A diamond (square on its tip) of half-diagonal `r` centred on (cx, cy).
    mutating func diamond(_ cx: Double, _ cy: Double, r: Double, fill: String, stroke: String, width: Double = 2,
                          tooltip: String? = nil) {
        let d = "M\(Self.num(cx)),\(Self.num(cy - r))L\(Self.num(cx + r)),\(Self.num(cy))"
            + "L\(Self.num(cx)),\(Self.num(cy + r))L\(Self.num(cx - r)),\(Self.num(cy))Z"
        element("path", [("d", d), ("fill", fill), ("stroke", stroke), ("stroke-width", Self.num(width))], tooltip: tooltip)
    }

    enum Anchor: String { case start, middle, end }

    /// ChartText with its baseline at `y`; `rotate` (degrees, clockwise) turns it about (x, y).
    mutating func text(_ s: String, _ x: Double, _ y: Double, size: Double, anchor: Anchor = .start,
                       fill: String = "#222", bold: Bool = false, rotate: Double? = nil) {
        var a = [("x", Self.num(x)), ("y", Self.num(y)), ("font-size", Self.num(size)), ("fill", fill)]
        if anchor != .start { a.append(("text-anchor", anchor.rawValue)) }
        if bold { a.append(("font-weight", "bold")) }
        if let rotate { a.append(("transform", "rotate(\(Self.num(rotate)) \(Self.num(x)) \(Self.num(y)))")) }
        element("text", a, text: s)
    }

    /// Appends another drawing shifted down by `dy` px (panels are drawn from their own top-left corner).
    mutating func append(_ other: SVGWriter, dy: Double) {
        markup += "<g transform=\"translate(0 \(Self.num(dy)))\">\n" + other.markup + "</g>\n"
    }

    /// The complete, self-contained document: a white background (so dark browser themes and PNG
    /// conversion show the same picture) and one font stack inherited by every text element.
    func document(width: Double, height: Double) -> String {
        let w = Self.num(width), h = Self.num(height)
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(w)" height="\(h)" viewBox="0 0 \(w) \(h)" \
        font-family="Helvetica, Arial, 'DejaVu Sans', 'Liberation Sans', sans-serif">
        <rect x="0" y="0" width="\(w)" height="\(h)" fill="#ffffff"/>

        """ + markup + "</svg>\n"
    }
}
