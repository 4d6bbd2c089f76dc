import Foundation
import Imaging
import HTMLReport
import Inference

extension RunReport {
    /// The whole page: one file, no scripts, no network, CSS inline; sections `run`, `curves`,
    /// `confusion`, `per-class`, `mistakes`, `warnings`. The same report gives the same bytes.
    public var html: String {
        Self.page(title: "Graft finetune: \(HTMLText.isolated(data))", heading: "Graft finetune report",
                  subtitle: HTMLText.name(data, wrap: true) + HTMLText.escape(": \(classes.count) classes, \(epochs.count) of \(settingValue("epochs")) epochs"
                      + (bestEpoch.map { ", best epoch \($0)" } ?? "")),
                  body: runSection + curvesSection + confusionSection + perClassSection + mistakesSection + warningsSection)
    }

    /// A self-contained page in the report's style around `body` (`ReportPage.page`).
    public static func page(title: String, heading: String, subtitle: String, body: String) -> String {
        ReportPage.page(title: title, heading: heading, subtitle: subtitle, body: body)
    }

    func settingValue(_ name: String) -> String { settings.first { $0.name == name }?.value ?? "?" }

    var runSection: String {
        let e = HTMLText.escape
        // The command line with its control characters and direction marks shown, not obeyed.
        var s = "<section id=\"run\">\n<h2>The run</h2>\n<pre class=\"cmd\"><bdi>\(e(TerminalText.escaped(commandLine)))</bdi></pre>\n<table class=\"kv\">\n"
        s += "<tr><th>data</th><td>\(HTMLText.name(data, wrap: true))</td></tr>\n"
        for row in settings { s += "<tr><th>\(e(row.name))</th><td>\(HTMLText.name(row.value, wrap: true))</td></tr>\n" }
        s += "</table>\n<table class=\"counts\">\n<tr><th>class</th><th>index</th><th>train</th><th>val</th></tr>\n"
        for (k, name) in classes.enumerated() {
            s += "<tr><td class=\"name\">\(HTMLText.name(name))</td><td>\(k)</td><td>\(trainCounts[k])</td><td>\(valCounts[k])</td></tr>\n"
        }
        s += "<tr class=\"total\"><td class=\"name\">total</td><td></td><td>\(trainCounts.reduce(0, +))</td><td>\(valCounts.reduce(0, +))</td></tr>\n"
        return s + "</table>\n</section>\n"
    }

    var curvesSection: String {
        let e = HTMLText.escape
        var s = "<section id=\"curves\">\n<h2>Curves</h2>\n"
        guard !epochs.isEmpty else { return s + "<p class=\"none\">No epoch has finished yet.</p>\n</section>\n" }
        let x = epochs.map(\.epoch)
        let charts: [(String, SVGChart)] = [
            ("chart-loss", SVGChart(title: "loss", epochs: x, series: [
                .init(name: "train loss", values: epochs.map(\.trainLoss), color: "#1f77b4"),
                .init(name: "val loss", values: epochs.map(\.valLoss), color: "#ff7f0e")], best: bestEpoch)),
            ("chart-accuracy", SVGChart(title: "val accuracy", epochs: x, series: [
                .init(name: "val accuracy", values: epochs.map(\.valAccuracy), color: "#2ca02c")], best: bestEpoch)),
            ("chart-lr", SVGChart(title: "learning rate", epochs: x, series: [
                .init(name: "lr", values: epochs.map(\.lr), color: "#9467bd")], best: bestEpoch)),
            ("chart-speed", SVGChart(title: "training images/s", epochs: x, series: [
                .init(name: "images/s", values: epochs.map(\.imagesPerSecond), color: "#8c564b")], best: bestEpoch)),
        ]
        s += "<div class=\"charts\">\n"
        for (id, var chart) in charts {
            chart.phaseStart = phaseStart
            s += "<figure id=\"\(id)\">\n\(chart.svg)\n</figure>\n" }
        s += "</div>\n<table class=\"epochs\">\n<tr><th>epoch</th><th>lr</th><th>train loss</th><th>val loss</th><th>val accuracy</th><th>seconds</th><th>images/s</th><th>skipped</th></tr>\n"
        for m in epochs {
            let cls = m.epoch == bestEpoch ? " class=\"best\"" : ""
            let cells = [String(format: "%.3g", m.lr), String(format: "%.4f", m.trainLoss), String(format: "%.4f", m.valLoss),
                         String(format: "%.4f", m.valAccuracy), String(format: "%.1f", m.seconds),
                         String(format: "%.1f", m.imagesPerSecond), "\(m.skippedImages)"]
            s += "<tr\(cls)><td>\(m.epoch)\(m.epoch == bestEpoch ? " (best)" : "")</td>" + cells.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n"
        }
        return s + "</table>\n</section>\n"
    }

    var confusionSection: String {
        Self.confusionSection(evaluation, heading: "Confusion matrix of the best model on val\(bestEpoch.map { " (epoch \($0))" } ?? "")")
    }

    /// The confusion matrix with counts and row-normalised colour (`ReportPage.confusionSection`).
    public static func confusionSection(_ report: ClassificationReport?, heading: String) -> String {
        ReportPage.confusionSection(report, heading: heading)
    }

    var perClassSection: String { Self.perClassSection(evaluation, heading: "Per-class figures of the best model on val") }

    /// Per-class precision, recall, F1 and support with the averages (`ReportPage.perClassSection`).
    public static func perClassSection(_ report: ClassificationReport?, heading: String) -> String {
        ReportPage.perClassSection(report, heading: heading)
    }

    /// A row's four cells as the table prints them.
    public static func cells(_ x: ClassificationReport.Scores) -> [String] { ReportPage.cells(x) }

    var mistakesSection: String {
        guard evaluation != nil else {
            return "<section id=\"mistakes\">\n<h2>Most confident mistakes</h2>\n<p class=\"none\">No validation figures for the saved model yet.</p>\n</section>\n"
        }
        return Self.mistakesSection(mistakes, classes: classes, images: "validation images", model: "the best model")
    }

    /// The most confident mistakes as thumbnails (`ReportPage.mistakesSection`).
    public static func mistakesSection(_ mistakes: [Mistake], classes: [String], images: String, model: String) -> String {
        ReportPage.mistakesSection(mistakes, classes: classes, images: images, model: model)
    }

    var warningsSection: String {
        var s = "<section id=\"warnings\">\n<h2>Skipped files and warnings</h2>\n"
        guard !warnings.isEmpty else { return s + "<p class=\"none\">None.</p>\n</section>\n" }
        s += "<ul>\n" + warnings.map { "<li>\(HTMLText.name($0, wrap: true))</li>\n" }.joined() + "</ul>\n"
        return s + "</section>\n"
    }

    static var css: String { ReportPage.css }
}
