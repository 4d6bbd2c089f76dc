import TestSupport
import Foundation
import Imaging
import XCTest
@testable import Inference

/// Names printed to a terminal show control characters escaped; JSON and CSV keep them exact
/// (issue 19, item 7).
final class TerminalTextTests: XCTestCase {
    static let title = "\u{1B}]0;pwned\u{07}"       // sets an xterm's title
    static let red = "\u{1B}[31mred"

    func testEscapes() {
        XCTAssertEqual(TerminalText.escaped(Self.title), "\\x1b]0;pwned\\x07")
        XCTAssertEqual(TerminalText.escaped("a\nb\tc\rd\u{7F}"), "a\\nb\\tc\\rd\\x7f")
        XCTAssertEqual(TerminalText.escaped("\u{202E}abc"), "\\u202eabc")
        XCTAssertEqual(TerminalText.escaped("daisy ünï \\ 😀"), "daisy ünï \\ 😀", "printable text unchanged")
        XCTAssertEqual(TerminalText.escapedKeepingLines("one \u{1B}\ntwo"), "one \\x1b\ntwo")
    }

    func testEvaluateTablesEscapeNamesAndJSONKeepsThem() throws {
        let names = [Self.title, Self.red, "a\nb"]
        let report = try ClassificationReport(classNames: names, labels: [0, 1, 2, 0], predictions: [0, 1, 2, 1])
        let v = Evaluation(images: ["x", "y", "z", "w"], labels: [0, 1, 2, 0], probabilities: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]],
                           unreadable: [], skipped: [], report: report)
        let text = v.text()
        XCTAssertFalse(text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, text)
        XCTAssertTrue(text.contains("\\x1b]0;pwned\\x07") && text.contains("\\x1b[31mred") && text.contains("a\\nb"), text)
        let json = try XCTUnwrap(ExactJSON.object(with: Data(v.json().utf8)) as? [String: Any])
        XCTAssertEqual(json["classes"] as? [String], names, "the JSON keeps the names exactly")
    }

    func testPredictionLinesEscapeAndCSVKeeps() {
        let p = Prediction(image: "dir/\u{1B}[2J.jpg", probs: [0.25, 0.75])
        let names = ["a", Self.title]
        let line = PredictionOutput.batchLine(p, names: names)
        XCTAssertEqual(line, "image: dir/\\x1b[2J.jpg  class: \\x1b]0;pwned\\x07  prob: 0.75")
        XCTAssertFalse(PredictionOutput.text(p, names: names, topK: nil).contains("\u{1B}"))
        XCTAssertTrue(PredictionOutput.csvRow(p, names: names).contains(Self.title))
        XCTAssertTrue(PredictionOutput.json(p, names: names).contains("\\u001b]0;pwned\\u0007"))
    }

    func testScanWarningsEscapePaths() {
        let skipped = FolderWalk.Skipped(path: "d/\u{1B}]0;x\u{07}.txt", reason: "not a .jpg, .jpeg or .png file", kind: .notImageName)
        XCTAssertEqual(skipped.description, "skipping d/\\x1b]0;x\\x07.txt: not a .jpg, .jpeg or .png file")
        XCTAssertEqual(FolderWalk.Skipped.summary([skipped, skipped, FolderWalk.Skipped(path: "e", reason: "gone", kind: .unreadable)]),
                       "3 files left out: 2 not .jpg, .jpeg or .png, 1 unreadable")
        XCTAssertFalse(ImagingError.unknownFormat(path: "\u{1B}c").description.contains("\u{1B}"))
    }
}
