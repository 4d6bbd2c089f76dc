import Foundation
import Inference

/// `evaluate --report FILE.html`: the report's evaluation parts (confusion matrix, per-class
/// figures, most confident mistakes) for a scored folder, as one self-contained page with the
/// report's style: no scripts, nothing fetched from the network.
public enum EvaluationPage {
    /// `thumbnail` makes an image's JPEG thumbnail (`ReportPage.thumbnail`).
    public static func html(folder: String, weights: String, evaluation v: Evaluation,
                            thumbnail: (String) -> [UInt8]?) -> String {
        let e = HTMLText.escape
        let mistakes = ReportPage.topMistakes(indices: Array(v.labels.indices), labels: v.labels, probabilities: v.probabilities,
                                              count: ReportPage.mistakeCount).map { m in
            ReportPage.Mistake(path: v.images[m.sample], trueClass: m.trueClass, predicted: m.predicted,
                              probability: m.probability, thumbnail: thumbnail(v.images[m.sample]))
        }
        let r = v.report
        var body = ""
        body += ReportPage.confusionSection(r, heading: "Confusion matrix")
        body += ReportPage.perClassSection(r, heading: "Per-class figures")
        body += ReportPage.mistakesSection(mistakes, classes: r.classNames, images: "images", model: "the model")
        body += "<section id=\"warnings\">\n<h2>Skipped files and unreadable images</h2>\n"
        let notes = v.skipped + v.unreadable.map { $0.reason.contains($0.path) ? $0.reason : "\($0.path): \($0.reason)" }
        body += notes.isEmpty ? "<p class=\"none\">None.</p>\n" : "<ul>\n" + notes.map { "<li>\(HTMLText.name($0, wrap: true))</li>\n" }.joined() + "</ul>\n"
        body += "</section>\n"
        let top5 = r.top5Accuracy.map { String(format: ", top-5 accuracy %.4f", $0) } ?? ""
        return ReportPage.page(title: "Graft evaluate: \(HTMLText.isolated(folder))", heading: "Graft evaluate report",
                              subtitle: HTMLText.name(folder, wrap: true) + " scored with " + HTMLText.name(weights, wrap: true)
                                  + e(v.tta == .none ? "" : " (--tta \(v.tta.rawValue))") + e(": \(r.count) images, accuracy \(String(format: "%.4f", r.accuracy))\(top5)"),
                              body: body)
    }
}
