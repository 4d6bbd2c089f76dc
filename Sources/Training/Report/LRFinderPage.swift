import Foundation
import HTMLReport
import Imaging
import Inference

/// lr_find.html: `finetune --find-lr`'s curve as fastai's `plot_lr_find` draws it (the smoothed
/// loss against the rate on a log axis, the last 5 records left out, the suggestions marked),
/// with the suggestions and the command that trains with the chosen one. One self-contained
/// page in the report's style (`ReportPage.page`); the same result gives the same bytes.
public struct LRFinderPage: Sendable {
    public var result: LRFinderResult
    public var width = 560.0
    public var height = 320.0
    let margin = (left: 60.0, top: 28.0, right: 16.0, bottom: 40.0)

    public init(result: LRFinderResult) { self.result = result }

    /// The plotted records: fastai's `skip_end=5` (all of them when there are 5 or fewer), finite losses only.
    var points: [(lr: Double, loss: Double)] {
        let n = result.lrs.count
        let shown = n > 5 ? n - 5 : n
        return (0..<shown).map { (result.lrs[$0], Double(result.smoothedLosses[$0])) }.filter { $0.lr > 0 && $0.loss.isFinite }
    }

    static let colors = [("valley", "#d62728"), ("minimum", "#2ca02c"), ("steep", "#9467bd")]

    func marks(_ s: LRRangeTest.Suggestions) -> [(name: String, color: String, s: LRRangeTest.Suggestion)] {
        [("valley", Self.colors[0].1, s.valley), ("minimum", Self.colors[1].1, s.minimum), ("steep", Self.colors[2].1, s.steep)]
    }

    static func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

    /// The `<svg>` chart: x = log10(rate), decades ticked; y = smoothed loss.
    public var svg: String {
        let e = HTMLText.escape
        let pts = points
        var ys = pts.map(\.loss)
        if let s = result.suggestions { ys += marks(s).map(\.s.pointLoss).filter(\.isFinite) }
        var y0 = ys.min() ?? 0, y1 = ys.max() ?? 1
        if y1 - y0 < 1e-12 * max(1, abs(y1)) { let pad = max(abs(y1) * 0.1, 1e-6); y0 -= pad; y1 += pad }
        var x0 = log10(pts.first?.lr ?? result.settings.start), x1 = log10(pts.last?.lr ?? result.settings.end)
        if !(x1 > x0) { x0 -= 0.5; x1 += 0.5 }
        let left = margin.left, top = margin.top, right = width - margin.right, bottom = height - margin.bottom
        func at(_ lr: Double, _ loss: Double) -> (x: Double, y: Double) {
            (left + (log10(lr) - x0) / (x1 - x0) * (right - left), bottom - (loss - y0) / (y1 - y0) * (bottom - top))
        }
        let title = "Smoothed training loss against the learning rate"
        var out = "<svg class=\"chart\" width=\"\(Self.fmt(width))\" height=\"\(Self.fmt(height))\" viewBox=\"0 0 \(Self.fmt(width)) \(Self.fmt(height))\" role=\"img\" aria-label=\"\(e(title))\">\n"
        out += "<title>\(e(title))</title>\n<text x=\"\(Self.fmt(left))\" y=\"16\" class=\"title\">\(e(title))</text>\n"
        out += "<rect x=\"\(Self.fmt(left))\" y=\"\(Self.fmt(top))\" width=\"\(Self.fmt(right - left))\" height=\"\(Self.fmt(bottom - top))\" class=\"frame\"/>\n"
        for i in 0...4 {
            let v = y0 + (y1 - y0) * Double(i) / 4, y = at(pow(10, x0), v).y
            out += "<line x1=\"\(Self.fmt(left - 4))\" y1=\"\(Self.fmt(y))\" x2=\"\(Self.fmt(right))\" y2=\"\(Self.fmt(y))\" class=\"grid\"/>"
            out += "<text x=\"\(Self.fmt(left - 6))\" y=\"\(Self.fmt(y + 4))\" class=\"ytick\">\(e(SVGChart.label(v, step: (y1 - y0) / 4, magnitude: max(abs(y0), abs(y1)))))</text>\n"
        }
        var decade = Int(x0.rounded(.up))
        while Double(decade) <= x1 {
            let x = at(pow(10, Double(decade)), y0).x
            out += "<line x1=\"\(Self.fmt(x))\" y1=\"\(Self.fmt(bottom))\" x2=\"\(Self.fmt(x))\" y2=\"\(Self.fmt(bottom + 4))\" class=\"axis\"/>"
            out += "<text x=\"\(Self.fmt(x))\" y=\"\(Self.fmt(bottom + 16))\" class=\"xtick\">1e\(decade)</text>\n"
            decade += 1
        }
        out += "<text x=\"\(Self.fmt((left + right) / 2))\" y=\"\(Self.fmt(height - 4))\" class=\"xtick\">learning rate (log scale)</text>\n"
        let coords = pts.map { at($0.lr, $0.loss) }.map { "\(Self.fmt($0.x)),\(Self.fmt($0.y))" }.joined(separator: " ")
        out += "<polyline points=\"\(coords)\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" class=\"series\"/>\n"
        if let s = result.suggestions {
            for (k, m) in marks(s).enumerated() where m.s.pointLR > 0 && m.s.pointLoss.isFinite {
                let p = at(m.s.pointLR, m.s.pointLoss)
                out += "<circle cx=\"\(Self.fmt(p.x))\" cy=\"\(Self.fmt(p.y))\" r=\"4\" fill=\"\(m.color)\" class=\"suggestion\" data-name=\"\(m.name)\"/>"
                let lx = right - 110, ly = top + 14 + Double(k) * 14
                out += "<circle cx=\"\(Self.fmt(lx))\" cy=\"\(Self.fmt(ly - 4))\" r=\"4\" fill=\"\(m.color)\"/>"
                out += "<text x=\"\(Self.fmt(lx + 8))\" y=\"\(Self.fmt(ly))\" class=\"legend\">\(m.name)</text>\n"
            }
        }
        return out + "</svg>"
    }

    public var html: String {
        let e = HTMLText.escape
        var body = "<section id=\"run\">\n<h2>The test</h2>\n<pre class=\"cmd\"><bdi>\(e(TerminalText.escaped(LRFinderResult.shellQuoted(result.commandLine))))</bdi></pre>\n<table class=\"kv\">\n"
        let rows: [(String, String)] = [
            ("steps", "\(result.lrs.count) of \(result.settings.steps)"),
            ("rates", "\(LRFinderResult.text(result.settings.start)) to \(LRFinderResult.text(result.settings.end)), exponentially"),
            ("ended", result.stop == .diverged ? "the smoothed loss exceeded 4x its best" : result.stop == .noData ? "no readable training image" : "all steps ran"),
            ("train", result.config.policy.rawValue), ("optimizer", result.config.optimizer.kind.rawValue),
            ("batch size", "\(result.config.batchSize)" + (result.processes > 1 ? " x \(result.processes) processes" : "")),
        ]
        for (k, v) in rows { body += "<tr><th>\(e(k))</th><td>\(e(v))</td></tr>\n" }
        body += "</table>\n</section>\n<section id=\"curve\">\n<h2>Loss against learning rate</h2>\n" + svg + "\n"
        body += "<p class=\"note\">Read it as fastai's plot: pick a rate where the loss is still falling steeply, well before its minimum "
            + "and the blow-up after it (the valley suggestion is such a point); a rate at the minimum is already too high.</p>\n</section>\n"
        body += "<section id=\"suggestions\">\n<h2>Suggestions</h2>\n"
        if let s = result.suggestions {
            body += "<table class=\"kv\">\n"
            for m in marks(s) { body += "<tr><th>\(m.name)</th><td data-name=\"\(m.name)\">\(e(LRFinderResult.text(m.s.lr)))</td></tr>\n" }
            body += "</table>\n"
            if let c = result.suggestedCommandLine {
                body += "<p>Train with the valley suggestion:</p>\n<pre class=\"cmd\"><bdi>\(e(TerminalText.escaped(LRFinderResult.shellQuoted(c))))</bdi></pre>\n"
            }
        } else {
            body += "<p class=\"none\">Too few steps were kept to suggest a rate (the loss diverged at once).</p>\n"
        }
        body += "</section>\n"
        return ReportPage.page(title: "Graft finetune --find-lr: \(HTMLText.isolated(result.config.data))", heading: "Graft LR range test",
                               subtitle: HTMLText.name(result.config.data, wrap: true)
                                   + e(result.suggestions.map { ": suggested --lr \(LRFinderResult.text($0.valley.lr))" } ?? ""),
                               body: body)
    }
}
