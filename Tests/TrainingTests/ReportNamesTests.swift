import Foundation
import HTMLReport
@testable import Inference
import XCTest
@testable import Training

/// report.html with hostile class names: a right-to-left override (U+202E) reorders nothing
/// outside the name, and a long name is cut with the whole of it in a tooltip (issue 19, item 8).
final class ReportNamesTests: XCTestCase {
    static let rlo = "\u{202E}evil"
    static let long = String(repeating: "long-name-", count: 30)          // 300 characters

    static func report() throws -> RunReport {
        let classes = [rlo, long, "plain"]
        let evaluation = try ClassificationReport(classNames: classes, labels: [0, 1, 2, 1], predictions: [0, 0, 2, 1])
        return RunReport(commandLine: "finetune data\u{202E}x", data: "data/\u{202E}set", classes: classes,
                         trainCounts: [3, 3, 3], valCounts: [1, 2, 1], settings: [.init("weights", "w\u{202E}.pth")],
                         epochs: [], bestEpoch: 1, evaluation: evaluation,
                         mistakes: [.init(path: "val/\u{202E}x/1.jpg", trueClass: 1, predicted: 0, probability: 0.447, thumbnail: nil)],
                         warnings: ["skipping \u{202E}odd.txt: not a .jpg, .jpeg or .png file"])
    }

    /// The page without its isolated parts: `<bdi>` elements, and FSI...PDI in plain text.
    static func outside(_ html: String) -> String {
        html.replacingOccurrences(of: "<bdi[^>]*>[^<]*</bdi>", with: "", options: .regularExpression)
            .replacingOccurrences(of: "\u{2068}[^\u{2069}]*\u{2069}", with: "", options: .regularExpression)
    }

    func testEveryUserStringIsIsolated() throws {
        let html = try Self.report().html
        // Outside <bdi>...</bdi>, no direction mark and no class name remains.
        let outside = Self.outside(html)
        XCTAssertFalse(outside.contains("\u{202E}"), "an unisolated U+202E: \(outside)")
        XCTAssertFalse(outside.contains(Self.long) || outside.contains("evil"), "a name outside <bdi>")
        // In the mistake's caption the probability follows the isolated name.
        XCTAssertTrue(html.contains("predicted: <bdi class=\"nm\" title=\"\u{2068}\(Self.rlo)\u{2069}\">\(Self.rlo)</bdi> (0.447)"), html)
        // <title> has no elements: the name sits between FSI and PDI.
        XCTAssertTrue(html.contains("<title>Graft finetune: \u{2068}data/\u{202E}set\u{2069}</title>"))
        // Long names are cut with an ellipsis, the whole name in the tooltip.
        XCTAssertTrue(html.contains("title=\"\u{2068}\(Self.long)\u{2069}\">\(Self.long)</bdi>"))
        XCTAssertTrue(html.contains("bdi.nm{display:inline-block;max-width:22em;overflow:hidden;text-overflow:ellipsis"))
    }

    func testEvaluatePageIsolatesItsNames() throws {
        let r = try Self.report()
        let v = Evaluation(images: ["a/1.jpg", "b/2.jpg", "c/3.jpg", "b/4.jpg"], labels: [0, 1, 2, 1],
                           probabilities: [[1, 0, 0], [0.447, 0.4, 0.153], [0, 0, 1], [0, 1, 0]], unreadable: [],
                           skipped: ["skipping \u{202E}x.txt: not a .jpg, .jpeg or .png file"], report: try XCTUnwrap(r.evaluation))
        let html = EvaluationPage.html(folder: "dir\u{202E}", weights: "w.pth", evaluation: v, thumbnail: { _ in nil })
        let outside = Self.outside(html)
        XCTAssertFalse(outside.contains("\u{202E}"), outside)
    }
}
