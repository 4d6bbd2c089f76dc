import Foundation
import HTMLReport

/// A line chart of per-epoch values as inline SVG: one or more series over epochs 1...n, axes
/// with tick labels, the best epoch marked by a dashed vertical line (`class="best"`). Numbers
/// are printed with fixed precision, so the same figures give the same text.
public struct SVGChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var values: [Double]
        public var color: String
        public init(name: String, values: [Double], color: String) {
            self.name = name; self.values = values; self.color = color
        }
    }

    public var title: String
    public var epochs: [Int]
    public var series: [Series]
    /// The epoch to mark (the model `--output` holds), if any.
    public var best: Int?
    /// The first epoch of the second phase (`--head-epochs`), marked between it and the one
    /// before by a dotted line (`class="phase"`), if any.
    public var phaseStart: Int? = nil
    public var width = 360.0
    public var height = 220.0
    /// The plot area inside the box: left, top, right, bottom margins.
    public let margin = (left: 60.0, top: 28.0, right: 12.0, bottom: 36.0)

    public init(title: String, epochs: [Int], series: [Series], best: Int?) {
        self.title = title; self.epochs = epochs; self.series = series; self.best = best
    }

    /// The y range drawn: the finite values' range, padded when flat; 0...1 when none.
    var yRange: (lo: Double, hi: Double) {
        let finite = series.flatMap(\.values).filter(\.isFinite)
        guard var lo = finite.min(), var hi = finite.max() else { return (0, 1) }
        if hi - lo < 1e-12 * max(1, abs(hi)) { let pad = max(abs(hi) * 0.1, 1e-6); lo -= pad; hi += pad }
        return (lo, hi)
    }

    var xRange: (lo: Double, hi: Double) {
        let lo = Double(epochs.min() ?? 1), hi = Double(epochs.max() ?? 1)
        return hi > lo ? (lo, hi) : (lo - 0.5, hi + 0.5)
    }

    /// Where (epoch, value) lands in the box.
    public func point(epoch: Int, value: Double) -> (x: Double, y: Double) {
        let (x0, x1) = xRange, (y0, y1) = yRange
        let w = width - margin.left - margin.right, h = height - margin.top - margin.bottom
        return (margin.left + (Double(epoch) - x0) / (x1 - x0) * w,
                margin.top + h - (value - y0) / (y1 - y0) * h)
    }

    static func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

    /// A tick label: short, with as many decimals as the tick step needs (`step`: the
    /// distance between ticks); scientific on every tick when the axis's largest magnitude
    /// (`magnitude`) is tiny or huge.
    static func label(_ v: Double, step: Double, magnitude: Double) -> String {
        if magnitude < 1e-3 || magnitude >= 1e6 { return String(format: "%.2e", v) }
        let digits = step > 0 ? max(0, min(6, Int((-log10(step)).rounded(.up)))) : 3
        return String(format: "%.\(digits)f", v)
    }

    /// The `<svg>` element.
    public var svg: String {
        let e = HTMLText.escape
        let (y0, y1) = yRange
        let left = margin.left, top = margin.top, right = width - margin.right, bottom = height - margin.bottom
        var out = "<svg class=\"chart\" width=\"\(Self.fmt(width))\" height=\"\(Self.fmt(height))\""
            + " viewBox=\"0 0 \(Self.fmt(width)) \(Self.fmt(height))\" role=\"img\" aria-label=\"\(e(title))\">\n"
        out += "<title>\(e(title))</title>\n"
        out += "<text x=\"\(Self.fmt(left))\" y=\"16\" class=\"title\">\(e(title))</text>\n"
        out += "<rect x=\"\(Self.fmt(left))\" y=\"\(Self.fmt(top))\" width=\"\(Self.fmt(right - left))\" height=\"\(Self.fmt(bottom - top))\" class=\"frame\"/>\n"
        // y ticks: five, evenly spaced.
        for i in 0...4 {
            let v = y0 + (y1 - y0) * Double(i) / 4
            let y = point(epoch: epochs.first ?? 1, value: v).y
            out += "<line x1=\"\(Self.fmt(left - 4))\" y1=\"\(Self.fmt(y))\" x2=\"\(Self.fmt(right))\" y2=\"\(Self.fmt(y))\" class=\"grid\"/>"
            out += "<text x=\"\(Self.fmt(left - 6))\" y=\"\(Self.fmt(y + 4))\" class=\"ytick\">\(e(Self.label(v, step: (y1 - y0) / 4, magnitude: max(abs(y0), abs(y1)))))</text>\n"
        }
        // x ticks: every epoch, or about ten of them.
        let step = max(1, Int((Double(epochs.count) / 10).rounded(.up)))
        for (i, epoch) in epochs.enumerated() where i % step == 0 || i == epochs.count - 1 {
            let x = point(epoch: epoch, value: y0).x
            out += "<line x1=\"\(Self.fmt(x))\" y1=\"\(Self.fmt(bottom))\" x2=\"\(Self.fmt(x))\" y2=\"\(Self.fmt(bottom + 4))\" class=\"axis\"/>"
            out += "<text x=\"\(Self.fmt(x))\" y=\"\(Self.fmt(bottom + 16))\" class=\"xtick\">\(epoch)</text>\n"
        }
        out += "<text x=\"\(Self.fmt((left + right) / 2))\" y=\"\(Self.fmt(height - 4))\" class=\"xtick\">epoch</text>\n"
        if let best, epochs.contains(best) {
            let x = point(epoch: best, value: y0).x
            out += "<line x1=\"\(Self.fmt(x))\" y1=\"\(Self.fmt(top))\" x2=\"\(Self.fmt(x))\" y2=\"\(Self.fmt(bottom))\" class=\"best\"/>"
            out += "<text x=\"\(Self.fmt(min(x + 3, right - 30)))\" y=\"\(Self.fmt(top + 10))\" class=\"bestlabel\">best</text>\n"
        }
        if let p = phaseStart, let first = epochs.first, p > first, p <= (epochs.last ?? 0) {
            let x = (point(epoch: p - 1, value: y0).x + point(epoch: p, value: y0).x) / 2
            out += "<line x1=\"\(Self.fmt(x))\" y1=\"\(Self.fmt(top))\" x2=\"\(Self.fmt(x))\" y2=\"\(Self.fmt(bottom))\" class=\"phase\"/>"
            out += "<text x=\"\(Self.fmt(min(x + 3, right - 50)))\" y=\"\(Self.fmt(bottom - 6))\" class=\"bestlabel\">unfrozen</text>\n"
        }
        for (k, s) in series.enumerated() {
            let points = zip(epochs, s.values).filter { $0.1.isFinite }.map { point(epoch: $0.0, value: $0.1) }
            let coords = points.map { "\(Self.fmt($0.x)),\(Self.fmt($0.y))" }.joined(separator: " ")
            out += "<polyline points=\"\(coords)\" fill=\"none\" stroke=\"\(e(s.color))\" stroke-width=\"2\" class=\"series\"/>\n"
            for p in points {
                out += "<circle cx=\"\(Self.fmt(p.x))\" cy=\"\(Self.fmt(p.y))\" r=\"2.5\" fill=\"\(e(s.color))\"/>"
            }
            if !points.isEmpty { out += "\n" }
            if series.count > 1 {
                let lx = right - 100, ly = top + 28 + Double(k) * 14  // below the best epoch's label
                out += "<rect x=\"\(Self.fmt(lx))\" y=\"\(Self.fmt(ly - 8))\" width=\"10\" height=\"3\" fill=\"\(e(s.color))\"/>"
                out += "<text x=\"\(Self.fmt(lx + 14))\" y=\"\(Self.fmt(ly))\" class=\"legend\">\(e(s.name))</text>\n"
            }
        }
        return out + "</svg>"
    }
}
