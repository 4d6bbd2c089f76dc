import Foundation
import Imaging
import Inference

/// Text made safe for HTML element content and attribute values.
public enum HTMLText {
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// A user-supplied string (a class or file name, a path, a warning) as element content:
    /// escaped, and in `<bdi>`, so that its direction marks (U+202E...) reorder nothing
    /// outside it, and a long one is cut with an ellipsis (CSS `.nm`), the whole of it in the
    /// tooltip. `wrap`: break it over lines instead of cutting it (no tooltip then). Control
    /// characters and bytes that are not UTF-8 show as `TerminalText` writes them.
    public static func name(_ s: String, wrap: Bool = false) -> String {
        let shown = String(String.UnicodeScalarView(s.unicodeScalars.flatMap { u -> [Unicode.Scalar] in
            // Control characters and bytes that are not UTF-8 (PathBytes) as visible escapes.
            u.value < 0x20 || (0x7F...0x9F).contains(u.value) || PathBytes.escapedByte(u) != nil
                ? Array(TerminalText.escaped(String(u)).unicodeScalars) : [u]
        }))
        return wrap ? "<bdi class=\"wrap\">\(escape(shown))</bdi>"
            : "<bdi class=\"nm\" title=\"\(escape(isolated(shown)))\">\(escape(shown))</bdi>"
    }

    /// `s` between U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE: `<bdi>`
    /// for plain text (a title, a tooltip), where no element can go.
    public static func isolated(_ s: String) -> String { "\u{2068}" + s + "\u{2069}" }
}

/// The parts of Graft's HTML pages that finetune's report.html (Training's `RunReport`) and
/// `evaluate --report` share: the page around the sections, its style, the confusion matrix,
/// the per-class figures, the most confident mistakes and their thumbnails.
public enum ReportPage {
    /// A validation image the model got wrong, most confident first.
    public struct Mistake: Sendable, Equatable {
        public var path: String
        public var trueClass: Int
        public var predicted: Int
        /// The predicted (wrong) class's probability.
        public var probability: Float
        /// A JPEG thumbnail (longer side at most `ReportPage.thumbnailSide`), nil when the image
        /// could not be read again.
        public var thumbnail: [UInt8]?

        public init(path: String, trueClass: Int, predicted: Int, probability: Float, thumbnail: [UInt8]?) {
            self.path = path
            self.trueClass = trueClass
            self.predicted = predicted
            self.probability = probability
            self.thumbnail = thumbnail
        }
    }

    public static let thumbnailSide = 96
    public static let mistakeCount = 16

    /// A self-contained page in the report's style around `body` (sections of HTML).
    /// `subtitle` is HTML (names in it made with `HTMLText.name`); `title` is text.
    public static func page(title: String, heading: String, subtitle: String, body: String) -> String {
        let e = HTMLText.escape
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(title))</title>
            <style>\(css)</style>
            </head>
            <body>
            <h1>\(e(heading))</h1>
            <p class="sub">\(subtitle)</p>

            """ + body + "</body>\n</html>\n"
    }

    /// The confusion matrix with counts and row-normalised colour (the report's and evaluate's).
    public static func confusionSection(_ report: ClassificationReport?, heading: String) -> String {
        let e = HTMLText.escape
        var s = "<section id=\"confusion\">\n<h2>\(e(heading))</h2>\n"
        guard let r = report else { return s + "<p class=\"none\">No validation figures for the saved model yet.</p>\n</section>\n" }
        let shown = Self.shownClasses(r.confusion)
        s += "<p>Rows: true class; columns: predicted class. Colour: the share of the row.</p>\n"
        if shown.count < r.classNames.count {
            s += "<p class=\"note\">\(r.classNames.count) classes: showing the \(shown.count) with the most mistakes (metrics.json has the whole matrix).</p>\n"
        }
        s += "<table class=\"confusion\">\n<tr><th class=\"corner\">true \\ predicted</th>"
        s += shown.map { "<th class=\"col\">\(HTMLText.name(r.classNames[$0]))</th>" }.joined() + "</tr>\n"
        for t in shown {
            let row = r.confusion[t]
            let total = row.reduce(0, +)
            s += "<tr><th class=\"row\">\(HTMLText.name(r.classNames[t]))</th>"
            for p in shown {
                let n = row[p]
                let share = total > 0 ? Double(n) / Double(total) : 0
                let ink = share > 0.5 ? "#fff" : "#111"
                s += "<td class=\"cell\" data-true=\"\(t)\" data-pred=\"\(p)\" style=\"background:rgba(31,119,180,\(String(format: "%.3f", share)));color:\(ink)\">\(n)</td>"
            }
            s += "</tr>\n"
        }
        return s + "</table>\n</section>\n"
    }

    /// Per-class precision, recall, F1 and support with the averages (the report's and evaluate's).
    public static func perClassSection(_ report: ClassificationReport?, heading: String) -> String {
        let e = HTMLText.escape
        var s = "<section id=\"per-class\">\n<h2>\(e(heading))</h2>\n"
        guard let r = report else { return s + "<p class=\"none\">No validation figures for the saved model yet.</p>\n</section>\n" }
        s += "<p>As scikit-learn's <code>classification_report</code> computes them.</p>\n"
        s += "<table class=\"scores\">\n<tr><th>class</th><th>precision</th><th>recall</th><th>f1-score</th><th>support</th></tr>\n"
        func row(_ attr: String, _ name: String, _ x: ClassificationReport.Scores) -> String {
            "<tr \(attr)><th>\(name)</th>" + Self.cells(x).map { "<td>\($0)</td>" }.joined() + "</tr>\n"
        }
        for (k, x) in r.perClass.enumerated() { s += row("data-class=\"\(k)\"", HTMLText.name(r.classNames[k]), x) }
        s += "<tr class=\"avg\" data-avg=\"accuracy\"><th>accuracy</th><td></td><td></td><td>\(String(format: "%.4f", r.accuracy))</td><td>\(r.count)</td></tr>\n"
        s += row("class=\"avg\" data-avg=\"macro\"", "macro avg", r.macro)
        s += row("class=\"avg\" data-avg=\"weighted\"", "weighted avg", r.weighted)
        return s + "</table>\n</section>\n"
    }

    /// A row's four cells as the table prints them.
    public static func cells(_ x: ClassificationReport.Scores) -> [String] {
        [String(format: "%.4f", x.precision), String(format: "%.4f", x.recall), String(format: "%.4f", x.f1), "\(x.support)"]
    }

    /// The most confident mistakes as thumbnails (the report's and evaluate's).
    public static func mistakesSection(_ mistakes: [Mistake], classes: [String], images: String, model: String) -> String {
        let e = HTMLText.escape
        var s = "<section id=\"mistakes\">\n<h2>Most confident mistakes</h2>\n"
        guard !mistakes.isEmpty else { return s + "<p class=\"none\">\(e(model.prefix(1).uppercased() + model.dropFirst())) gets every one of the \(e(images)) right.</p>\n</section>\n" }
        s += "<p>The \(mistakes.count) \(e(images)) \(e(model)) got wrong with the highest probability.</p>\n<div class=\"mistakes\">\n"
        for m in mistakes {
            let name = (m.path as NSString).lastPathComponent
            let truth = classes.indices.contains(m.trueClass) ? classes[m.trueClass] : "\(m.trueClass)"
            let guess = classes.indices.contains(m.predicted) ? classes[m.predicted] : "\(m.predicted)"
            s += "<figure class=\"mistake\" title=\"\(e(HTMLText.isolated(m.path)))\">"
            if let jpeg = m.thumbnail {
                s += "<img src=\"data:image/jpeg;base64,\(Data(jpeg).base64EncodedString())\" alt=\"\(e(name))\">"
            } else {
                s += "<div class=\"noimage\">unreadable</div>"
            }
            s += "<figcaption><span class=\"file\">\(HTMLText.name(name, wrap: true))</span><br>true: \(HTMLText.name(truth))<br>predicted: \(HTMLText.name(guess))"
                + " (\(String(format: "%.3f", m.probability)))</figcaption></figure>\n"
        }
        return s + "</div>\n</section>\n"
    }

    /// The `count` misclassified samples whose predicted class is most probable (ties: the
    /// earlier sample first): fastai's `plot_top_losses` for the wrong ones. `indices`, `labels`
    /// and `probabilities` go together, sample by sample (Training's `ValidationRecord`).
    public static func topMistakes(indices: [Int], labels: [Int], probabilities: [[Float]], count: Int)
        -> [(sample: Int, trueClass: Int, predicted: Int, probability: Float)] {
        var wrong: [(sample: Int, trueClass: Int, predicted: Int, probability: Float)] = []
        for (i, row) in probabilities.enumerated() where i < labels.count && i < indices.count {
            let p = ClassificationReport.argmax(row)
            if p != labels[i], row.indices.contains(p) { wrong.append((indices[i], labels[i], p, row[p])) }
        }
        wrong.sort { $0.probability != $1.probability ? $0.probability > $1.probability : $0.sample < $1.sample }
        return Array(wrong.prefix(count))
    }

    /// The classes the confusion matrix shows: all of them up to `limit`, else the `limit`
    /// classes with the most mistakes (as true or predicted class; ties: the lower index), in
    /// class-index order.
    public static func shownClasses(_ confusion: [[Int]], limit: Int = 50) -> [Int] {
        let n = confusion.count
        guard n > limit else { return Array(0..<n) }
        var errors = [Int](repeating: 0, count: n)
        for t in 0..<n { for p in 0..<n where p != t && confusion[t].indices.contains(p) { errors[t] += confusion[t][p]; errors[p] += confusion[t][p] } }
        return (0..<n).sorted { errors[$0] != errors[$1] ? errors[$0] > errors[$1] : $0 < $1 }.prefix(limit).sorted()
    }

    /// The JPEG thumbnail of the image at `path`: decoded as training decodes it, its longer
    /// side shrunk to `thumbnailSide` (Pillow's bilinear), encoded by `JPEGEncoder`.
    /// nil when any step fails (the page shows the mistake without a picture).
    public static func thumbnail(_ path: String) -> [UInt8]? {
        guard let image = try? ImageDecoder.decode(path: path) else { return nil }
        let side = thumbnailSide, longer = max(image.width, image.height)
        var small = image
        if longer > side {
            let w = max(1, (image.width * side + longer / 2) / longer), h = max(1, (image.height * side + longer / 2) / longer)
            guard let r = try? image.resized(width: w, height: h) else { return nil }
            small = r
        }
        return try? JPEGEncoder.rgb(small)
    }

    public static let css = """
        body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#111;background:#fff}
        h1{font-size:22px;margin:0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .sub{color:#555;margin:4px 0 0}.none{color:#777;font-style:italic}
        pre.cmd{background:#f5f5f5;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px}
        table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border:1px solid #ddd;text-align:right}
        table.kv th,table.kv td,td.name{text-align:left}table.kv th{background:#fafafa;font-weight:600}
        tr.total td,tr.avg th,tr.avg td{font-weight:600}tr.best td{background:#eef6ee}
        .charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}
        svg.chart{background:#fff;border:1px solid #eee}svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}
        svg .axis{stroke:#999}svg text{font-size:11px;fill:#333}svg .title{font-size:13px;font-weight:600}
        svg .ytick{text-anchor:end}svg .xtick{text-anchor:middle}svg .best{stroke:#d62728;stroke-dasharray:4 3}svg .phase{stroke:#555;stroke-dasharray:1 3}
        svg .bestlabel{fill:#d62728}table.confusion td.cell{min-width:40px;text-align:center}
        table.confusion th.col{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;max-height:160px}
        table.confusion th.row{text-align:left}
        .mistakes{display:flex;flex-wrap:wrap;gap:10px}.mistake{width:120px;font-size:12px;text-align:center}
        .mistake img,.noimage{width:96px;height:96px;object-fit:contain;display:block;margin:0 auto;background:#f3f3f3}
        .noimage{line-height:96px;color:#999}.file{color:#666;word-break:break-all}
        bdi.nm{display:inline-block;max-width:22em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom}
        .mistake bdi.nm{max-width:100%}table.confusion th.col bdi.nm{max-width:none;max-height:160px}
        bdi.wrap{overflow-wrap:anywhere}
        """
}
