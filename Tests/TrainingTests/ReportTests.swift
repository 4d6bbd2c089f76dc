import Foundation
import HTMLReport
import Imaging
import Inference
import TestSupport
import XCTest
@testable import Training

/// report.html: written after every epoch of a finetune run, self-contained, and saying what
/// metrics.json and ClassificationReport say.
final class ReportTests: XCTestCase {
    /// All matches of `pattern`'s capture groups in `text`.
    func matches(_ pattern: String, in text: String) throws -> [[String]] {
        let re = try NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (1..<m.numberOfRanges).map { ns.substring(with: m.range(at: $0)) }
        }
    }

    /// Fails unless `html` needs nothing outside itself: no script, no web address, every
    /// `src` inline.
    func assertSelfContained(_ html: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let lower = html.lowercased()
        XCTAssertFalse(lower.contains("<script"), file: file, line: line)
        XCTAssertFalse(lower.contains("http://"), file: file, line: line)
        XCTAssertFalse(lower.contains("https://"), file: file, line: line)
        XCTAssertFalse(lower.contains("url("), "no CSS fetches", file: file, line: line)
        XCTAssertFalse(lower.contains("<link"), file: file, line: line)
        for src in try matches(#"src\s*=\s*["']?([^"' >]*)"#, in: lower) {
            XCTAssertTrue(src[0].hasPrefix("data:"), "src=\(src[0].prefix(40))", file: file, line: line)
        }
    }

    func testEveryEpochWritesTheReportTheFiguresSay() throws {
        let dir = try FinetuneTests.workdir("report")
        var c = FinetuneTests.config(dir, epochs: 2)
        // Slow enough that the head still gets some val images wrong after 2 epochs: mistakes to show.
        c.optimizer.lr = 0.002
        let path = dir + "/report.html"
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, report: ReportWriter(path: path, commandLine: ["finetune", "--weights", "a b.pth"]),
                                          log: { _ in }, warn: { _ in })
        var written: [String] = []
        job.trainer.onEpoch = { _ in written.append(try String(contentsOfFile: path, encoding: .utf8)) }
        try job.run()
        XCTAssertEqual(written.count, 2, "a report after each epoch")
        XCTAssertTrue(written[0].contains("1 of 2 epochs"))
        let html = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(html, written[1])
        try assertSelfContained(html)
        for id in ["run", "curves", "confusion", "per-class", "mistakes", "warnings"] {
            XCTAssertTrue(html.contains("<section id=\"\(id)\">"), id)
        }
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 4, "loss, accuracy, lr, images/s")
        for id in ["chart-loss", "chart-accuracy", "chart-lr", "chart-speed"] { XCTAssertTrue(html.contains("id=\"\(id)\"")) }
        for name in job.data.classes { XCTAssertTrue(html.contains("<th class=\"row\">\(HTMLText.name(name))</th>"), name) }
        XCTAssertTrue(html.contains("finetune --weights &#39;a b.pth&#39;"), "the command line, shell-quoted and escaped")
        XCTAssertTrue(html.contains("99_corrupt.jpg"), "the scan's skipped files")

        // The confusion matrix is metrics.json's best_epoch_evaluation.
        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
        XCTAssertEqual(metrics["schema_version"] as? Int, 2)
        let best = try XCTUnwrap(metrics["best_epoch_evaluation"] as? [String: Any])
        XCTAssertEqual(best["epoch"] as? Int, job.trainer.savedEpoch)
        let stored = try XCTUnwrap(best["confusion_matrix"] as? [[Int]])
        let k = job.data.classes.count
        var shown = [[Int]](repeating: [Int](repeating: -1, count: k), count: k)
        let cells = try matches(#"data-true="(\d+)" data-pred="(\d+)"[^>]*>(\d+)</td>"#, in: html)
        XCTAssertEqual(cells.count, k * k)
        for cell in cells { shown[Int(cell[0])!][Int(cell[1])!] = Int(cell[2])! }
        XCTAssertEqual(shown, stored)
        XCTAssertEqual(stored.flatMap { $0 }.reduce(0, +), job.data.val.count)

        // The per-class table is ClassificationReport on the stored labels and probabilities.
        let v = try XCTUnwrap(job.trainer.bestValidation)
        XCTAssertEqual(v.labels, v.indices.map { job.data.val[$0].label })
        for row in v.probabilities { XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5, "softmax rows") }
        let scored = try ClassificationReport(classNames: job.data.classes, labels: v.labels, probabilities: v.probabilities)
        XCTAssertEqual(scored.confusion, stored)
        for (i, x) in scored.perClass.enumerated() {
            let row = try matches(#"<tr data-class="\#(i)"><th><bdi[^>]*>([^<]*)</bdi></th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>"#, in: html)
            XCTAssertEqual(row.first, [job.data.classes[i]] + RunReport.cells(x))
        }
        for (name, x) in [("macro", scored.macro), ("weighted", scored.weighted)] {
            let row = try matches(#"data-avg="\#(name)"><th>[^<]*</th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"#, in: html)
            XCTAssertEqual(row.first, RunReport.cells(x), name)
        }

        // The mistakes: the wrong ones, most confident first, as JPEG thumbnails that decode.
        let wrong = zip(v.labels, v.probabilities).filter { ClassificationReport.argmax($0.1) != $0.0 }.count
        XCTAssertGreaterThan(wrong, 0, "this run must get some val images wrong (lower the lr if not)")
        let thumbs = try matches(#"src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)""#, in: html)
        XCTAssertEqual(thumbs.count, min(wrong, RunReport.mistakeCount))
        for t in thumbs {
            let bytes = try XCTUnwrap(Data(base64Encoded: t[0]))
            XCTAssertEqual(Array(bytes.prefix(2)), [0xFF, 0xD8])
            let image = try ImageDecoder.decode(bytes: [UInt8](bytes))
            XCTAssertLessThanOrEqual(max(image.width, image.height), RunReport.thumbnailSide)
        }
        let probabilities = try matches(#"predicted: [^<(]*\(([0-9.]+)\)"#, in: html).map { Double($0[0])! }
        XCTAssertEqual(probabilities, probabilities.sorted(by: >))
        XCTAssertTrue(probabilities.allSatisfy { $0 >= 1.0 / Double(k) - 1e-3 && $0 <= 1 })

        // Deterministic: the same report, written again, is the same bytes.
        let again = try RunReport(trainer: job.trainer, commandLine: ["finetune", "--weights", "a b.pth"], thumbnail: ReportWriter.makeThumbnail)
        XCTAssertEqual(again.html, html)
    }

    /// With augmentation the validation pass runs through the image pipeline (no feature
    /// cache): it records every val image too, and `--resume` keeps the saved model's record.
    func testTheImagePathRecordsAndResumeKeepsTheBestEvaluation() throws {
        let a = try FinetuneTests.workdir("report-a"), b = try FinetuneTests.workdir("report-b")
        let ca = FinetuneTests.config(a, epochs: 3, augment: true), cb = FinetuneTests.config(b, epochs: 3, augment: true)
        func job(_ c: TrainConfig, resume: Bool) throws -> FinetuneJob {
            try FinetuneJob.prepare(c, output: c.output, resume: resume, report: ReportWriter(path: (c.output as NSString).deletingLastPathComponent + "/report.html", commandLine: ["finetune"]),
                                    log: { _ in }, warn: { _ in })
        }
        let straight = try job(ca, resume: false)
        try straight.run()
        let v = try XCTUnwrap(straight.trainer.bestValidation)
        XCTAssertEqual(v.indices, Array(straight.data.val.indices))
        XCTAssertEqual(v.labels, straight.data.val.map(\.label))
        XCTAssertEqual(v.probabilities.count, straight.data.val.count)
        try job(cb, resume: false).run(until: 2)
        let resumed = try job(cb, resume: true)
        XCTAssertEqual(resumed.trainer.bestValidation, try ResumeState.read(for: cb).bestValidation)
        try resumed.run()
        XCTAssertEqual(resumed.trainer.savedEpoch, straight.trainer.savedEpoch)
        XCTAssertEqual(resumed.trainer.bestValidation, v, "the saved model's record survives --resume")
        func evaluation(_ c: TrainConfig) throws -> [String: Any]? {
            let json = try ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any]
            return json?["best_epoch_evaluation"] as? [String: Any]
        }
        XCTAssertEqual(try evaluation(cb)?["confusion_matrix"] as? [[Int]], try XCTUnwrap(evaluation(ca)?["confusion_matrix"] as? [[Int]]))
        let html = try String(contentsOfFile: b + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("data-true=\"0\" data-pred=\"0\""))
    }

    func testWithoutAWriterNoReportIsWritten() throws {
        let dir = try FinetuneTests.workdir("noreport")
        let c = FinetuneTests.config(dir, epochs: 1)
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })
        try job.run()
        XCTAssertTrue(FileManager.default.fileExists(atPath: c.metrics))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".html") }, [])
        XCTAssertEqual(ReportWriter.defaultPath(metrics: c.metrics), dir + "/report.html")
        XCTAssertEqual(ReportWriter.defaultPath(metrics: "metrics.json"), "report.html")
        // A one-character name (swift-corelibs-foundation's NSString.deletingLastPathComponent traps on it).
        XCTAssertEqual(ReportWriter.defaultPath(metrics: "m"), "report.html")
    }

    func testAnUnwritableReportFailsBeforeTraining() throws {
        let dir = try FinetuneTests.workdir("badreport")
        let c = FinetuneTests.config(dir, epochs: 1)
        XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: false, report: ReportWriter(path: dir + "/missing/report.html"),
                                                     log: { _ in }, warn: { _ in })) { error in
            XCTAssertTrue("\(error)".contains("missing"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: c.metrics))
    }

    /// A class folder named with HTML's special characters is shown as text, not markup.
    func testClassNamesAreEscaped() throws {
        let dir = try FinetuneTests.workdir("escape")
        let data = dir + "/data"
        let source = FixturePaths.root.appendingPathComponent("trainset").path
        for split in ["train", "val"] {
            for (name, renamed) in [("daisy", "<b>daisy & \"co\""), ("roses", "roses"), ("tulips", "tulips")] {
                try FileManager.default.createDirectory(atPath: "\(data)/\(split)", withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: "\(source)/\(split)/\(name)", toPath: "\(data)/\(split)/\(renamed)")
            }
        }
        var c = FinetuneTests.config(dir, epochs: 1)
        c.data = data
        let path = dir + "/report.html"
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, report: ReportWriter(path: path, commandLine: ["finetune", data]),
                                          log: { _ in }, warn: { _ in })
        try job.run()
        let html = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(job.data.classes.first, "<b>daisy & \"co\"")
        XCTAssertTrue(html.contains("<th class=\"row\"><bdi class=\"nm\" title=\"\u{2068}&lt;b&gt;daisy &amp; &quot;co&quot;\u{2069}\">&lt;b&gt;daisy &amp; &quot;co&quot;</bdi></th>"))
        XCTAssertFalse(html.contains("<b>"))
        XCTAssertFalse(html.contains("\"co\""))
        try assertSelfContained(html)
    }

    /// Many classes: the confusion matrix shows those with the most mistakes, in index order.
    func testLargeConfusionMatricesShowTheMostConfusedClasses() {
        let m = [[5, 0, 0, 0], [0, 5, 3, 0], [0, 1, 5, 0], [2, 0, 0, 5]]
        XCTAssertEqual(RunReport.shownClasses(m, limit: 4), [0, 1, 2, 3])
        XCTAssertEqual(RunReport.shownClasses(m, limit: 2), [1, 2], "1 and 2: four mistakes each; 0 and 3: two")
        XCTAssertEqual(RunReport.shownClasses(m, limit: 3), [0, 1, 2], "ties: the lower index")
    }

    func testHTMLEscape() {
        XCTAssertEqual(HTMLText.escape(#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&#39;")
        XCTAssertEqual(RunReport.shellQuoted("plain/path-1.pth"), "plain/path-1.pth")
        XCTAssertEqual(RunReport.shellQuoted("it's"), #"'it'"'"'s'"#)
        XCTAssertEqual(RunReport.shellQuoted(""), "''")
    }

    func testCPUModelFromCpuinfo() throws {
        let dir = try FinetuneTests.workdir("cpuinfo")
        try Data("processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nflags\t: avx2\n".utf8).write(to: URL(fileURLWithPath: dir + "/cpuinfo"))
        XCTAssertEqual(RunReport.cpuModel(cpuinfo: dir + "/cpuinfo"), "Example CPU @ 2.0GHz")
        XCTAssertNil(RunReport.cpuModel(cpuinfo: dir + "/none"))
    }

    /// The chart's points land inside the plot area, in order, and the best epoch is marked.
    func testSVGChartScalesIntoTheBox() throws {
        let values = [2.5, 1.0, 0.25, 0.5, 0.75]
        let chart = SVGChart(title: "loss <train>", epochs: [1, 2, 3, 4, 5],
                             series: [.init(name: "train", values: values, color: "#123456")], best: 3)
        let svg = chart.svg
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        XCTAssertTrue(svg.contains("loss &lt;train&gt;"))
        let points = try XCTUnwrap(matches(#"<polyline points="([^"]*)""#, in: svg).first?.first)
            .split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(points.count, 5)
        let m = chart.margin
        for p in points {
            XCTAssertGreaterThanOrEqual(p[0], m.left - 0.05); XCTAssertLessThanOrEqual(p[0], chart.width - m.right + 0.05)
            XCTAssertGreaterThanOrEqual(p[1], m.top - 0.05); XCTAssertLessThanOrEqual(p[1], chart.height - m.bottom + 0.05)
        }
        XCTAssertEqual(points.map { $0[0] }, points.map { $0[0] }.sorted(), "epochs left to right")
        XCTAssertEqual(points[0][1], m.top, accuracy: 0.05, "the largest value at the top")
        XCTAssertEqual(points[2][1], chart.height - m.bottom, accuracy: 0.05, "the smallest at the bottom")
        XCTAssertEqual(points[0][0], m.left, accuracy: 0.05)
        XCTAssertEqual(points[4][0], chart.width - m.right, accuracy: 0.05)
        // The best-epoch marker: a vertical line at epoch 3's x.
        let best = try XCTUnwrap(matches(#"<line x1="([0-9.]+)" y1="[0-9.]+" x2="([0-9.]+)" y2="[0-9.]+" class="best"/>"#, in: svg).first)
        XCTAssertEqual(Double(best[0])!, points[2][0], accuracy: 0.05)
        XCTAssertEqual(best[0], best[1])
        // Tick labels on both axes.
        XCTAssertEqual(try matches(#"class="xtick">(\d+)</text>"#, in: svg).map { $0[0] }, ["1", "2", "3", "4", "5"])
        XCTAssertEqual(try matches(#"class="ytick">([^<]*)</text>"#, in: svg).count, 5)
        // No best epoch, no marker; a flat or non-finite series still draws inside the box.
        let flat = SVGChart(title: "lr", epochs: [1, 2], series: [.init(name: "lr", values: [1e-4, .nan], color: "#000")], best: nil)
        XCTAssertFalse(flat.svg.contains("class=\"best\""))
        XCTAssertFalse(flat.svg.lowercased().contains("nan"))
    }
}
