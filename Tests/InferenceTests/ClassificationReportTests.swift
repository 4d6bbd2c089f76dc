import Foundation
import TestSupport
import XCTest
@testable import Inference

/// ClassificationReport against scikit-learn's confusion_matrix, classification_report
/// (output_dict and digits=4 text) and top-k accuracy (Fixtures/gen_evaluate.py).
final class ClassificationReportTests: XCTestCase {
    static func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: FixturePaths.url("evaluate/expected.json"))
        return try XCTUnwrap(ExactJSON.object(with: data) as? [String: Any])
    }

    /// Every figure of `report` against scikit-learn's `output_dict`: supports exactly, ratios to `tolerance`.
    static func check(_ report: ClassificationReport, against dict: [String: Any], tolerance: Double = 1e-6,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        func compare(_ s: ClassificationReport.Scores, _ key: String) throws {
            let want = try XCTUnwrap(dict[key] as? [String: Double], "\(key)", file: file, line: line)
            XCTAssertEqual(s.precision, try XCTUnwrap(want["precision"]), accuracy: tolerance, "\(key) precision", file: file, line: line)
            XCTAssertEqual(s.recall, try XCTUnwrap(want["recall"]), accuracy: tolerance, "\(key) recall", file: file, line: line)
            XCTAssertEqual(s.f1, try XCTUnwrap(want["f1-score"]), accuracy: tolerance, "\(key) f1", file: file, line: line)
            XCTAssertEqual(Double(s.support), try XCTUnwrap(want["support"]), "\(key) support", file: file, line: line)
        }
        XCTAssertEqual(report.classNames.count, report.perClass.count, file: file, line: line)
        for (name, s) in zip(report.classNames, report.perClass) { try compare(s, name) }
        try compare(report.macro, "macro avg")
        try compare(report.weighted, "weighted avg")
        XCTAssertEqual(report.accuracy, try XCTUnwrap(dict["accuracy"] as? Double), accuracy: tolerance, file: file, line: line)
        XCTAssertEqual(dict.count, report.classNames.count + 3, "the same rows as scikit-learn", file: file, line: line)
    }

    /// scikit-learn 1.9 prints the support column as floats ("2.0") when no class has a true
    /// positive (a numpy dtype artefact); Graft prints counts as integers: "2.0" at a line's end reads "2".
    static func integerSupports(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard let last = line.split(separator: " ").last, last.hasSuffix(".0"), Int(last.dropLast(2)) != nil else { return String(line) }
            return String(line.dropLast(last.count)) + "  " + String(last.dropLast(2))
        }.joined(separator: "\n")
    }

    func testSmallCasesMatchScikitLearn() throws {
        let cases = try XCTUnwrap(Self.expected()["cases"] as? [String: [String: Any]])
        XCTAssertEqual(cases.count, 4)
        for (name, c) in cases {
            let n = try XCTUnwrap(c["classes"] as? Int)
            let report = try ClassificationReport(classNames: (0..<n).map(String.init),
                                                  labels: try XCTUnwrap(c["labels"] as? [Int]),
                                                  predictions: try XCTUnwrap(c["predictions"] as? [Int]))
            XCTAssertEqual(report.confusion, try XCTUnwrap(c["confusion_matrix"] as? [[Int]]), name)
            try Self.check(report, against: try XCTUnwrap(c["report"] as? [String: Any]), tolerance: 1e-12)
            XCTAssertEqual(report.text(digits: 4), Self.integerSupports(try XCTUnwrap(c["report_text"] as? String)), name)
            XCTAssertNil(report.top5Accuracy, "no probabilities, and 5 classes or fewer")
        }
    }

    /// The cases scikit-learn answers with zero_division: a class never predicted has precision 0
    /// (its recall and F1 as counted); a class with support 0 is in the table and in the macro
    /// average with 0 everywhere, and has weight 0 in the weighted one.
    func testNeverPredictedAndSupportZero() throws {
        let never = try ClassificationReport(classNames: ["a", "b", "c"], labels: [0, 0, 1, 1, 2, 2], predictions: [0, 1, 1, 1, 0, 0])
        XCTAssertEqual(never.perClass[2], .init(precision: 0, recall: 0, f1: 0, support: 2))
        XCTAssertEqual(never.perClass[0].precision, 1.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(never.accuracy, 0.5, accuracy: 1e-15)

        let zero = try ClassificationReport(classNames: ["a", "b", "c", "d"], labels: [0, 1, 1, 0], predictions: [0, 1, 3, 3])
        XCTAssertEqual(zero.perClass[2], .init(precision: 0, recall: 0, f1: 0, support: 0))   // neither true nor predicted
        XCTAssertEqual(zero.perClass[3], .init(precision: 0, recall: 0, f1: 0, support: 0))   // predicted, never true
        XCTAssertEqual(zero.macro.recall, (0.5 + 0.5) / 4, accuracy: 1e-15)
        XCTAssertEqual(zero.weighted.recall, 0.5, accuracy: 1e-15)
        XCTAssertEqual(zero.macro.support, 4)
    }

    /// The fixture's PyTorch probabilities: argmax, counts, ratios and top-5 as scikit-learn and torch have them.
    func testFixtureProbabilitiesMatchScikitLearn() throws {
        let e = try Self.expected()
        let names = try XCTUnwrap(e["classes"] as? [String])
        let probs = try XCTUnwrap(e["probabilities"] as? [[Double]]).map { $0.map(Float.init) }
        let report = try ClassificationReport(classNames: names, labels: try XCTUnwrap(e["labels"] as? [Int]), probabilities: probs)
        XCTAssertEqual(probs.map(ClassificationReport.argmax), try XCTUnwrap(e["predictions"] as? [Int]))
        XCTAssertEqual(report.confusion, try XCTUnwrap(e["confusion_matrix"] as? [[Int]]))
        try Self.check(report, against: try XCTUnwrap(e["report"] as? [String: Any]))
        XCTAssertEqual(try XCTUnwrap(report.top5Accuracy), try XCTUnwrap(e["top5_accuracy"] as? Double), accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(report.top5Accuracy), try XCTUnwrap(e["top5_accuracy_torch"] as? Double), accuracy: 1e-6)
        XCTAssertEqual(report.text(digits: 4), try XCTUnwrap(e["report_text"] as? String))
    }

    /// The JSON object reads back with scikit-learn's `output_dict` under "report".
    func testJSONReadsBackAsScikitLearnsDict() throws {
        let e = try Self.expected()
        let names = try XCTUnwrap(e["classes"] as? [String])
        let probs = try XCTUnwrap(e["probabilities"] as? [[Double]]).map { $0.map(Float.init) }
        let report = try ClassificationReport(classNames: names, labels: try XCTUnwrap(e["labels"] as? [Int]), probabilities: probs)
        let object = try XCTUnwrap(ExactJSON.object(with: Data(report.json(extra: [("x", "[1]")]).utf8)) as? [String: Any])
        XCTAssertEqual(object["classes"] as? [String], names)
        XCTAssertEqual(object["confusion_matrix"] as? [[Int]], try XCTUnwrap(e["confusion_matrix"] as? [[Int]]))
        XCTAssertEqual(object["count"] as? Int, 30)
        XCTAssertEqual(object["x"] as? [Int], [1])
        XCTAssertEqual(try XCTUnwrap(object["top5_accuracy"] as? Double), try XCTUnwrap(e["top5_accuracy"] as? Double), accuracy: 1e-6)
        let rebuilt = try XCTUnwrap(object["report"] as? [String: Any])
        try Self.check(report, against: rebuilt, tolerance: 1e-15)   // Foundation's JSON parser may be 1 ulp off
        try Self.check(report, against: try XCTUnwrap(e["report"] as? [String: Any]))
    }

    /// Top-5: ties go to the lower index (as torch.topk), so with 7 equal probabilities
    /// classes 0-4 are "in the top 5" and 5, 6 are not; none with 5 classes.
    func testTopFiveTiesAndClassCount() throws {
        let flat = [Float](repeating: 1.0 / 7, count: 7)
        let r = try ClassificationReport(classNames: (0..<7).map(String.init), labels: [4, 5, 6, 0], probabilities: [flat, flat, flat, flat])
        XCTAssertEqual(try XCTUnwrap(r.top5Accuracy), 0.5, accuracy: 1e-15)
        XCTAssertEqual(r.confusion[4][0], 1, "argmax: the first maximum")
        let five = try ClassificationReport(classNames: (0..<5).map(String.init), labels: [1], probabilities: [[0, 1, 0, 0, 0]])
        XCTAssertNil(five.top5Accuracy)
    }

    func testBadInputIsAnError() {
        XCTAssertThrowsError(try ClassificationReport(classNames: ["a", "b"], labels: [0, 1], predictions: [0])) {
            XCTAssertEqual($0 as? ClassificationReport.Failure, .countMismatch(labels: 2, predictions: 1, probabilities: nil))
        }
        XCTAssertThrowsError(try ClassificationReport(classNames: ["a", "b"], labels: [0, 2], predictions: [0, 1])) {
            XCTAssertEqual($0 as? ClassificationReport.Failure, .labelOutOfRange(position: 1, label: 2, classes: 2))
        }
        XCTAssertThrowsError(try ClassificationReport(classNames: (0..<6).map(String.init), labels: [0], probabilities: [[1, 0]])) {
            XCTAssertEqual($0 as? ClassificationReport.Failure, .probabilityRow(position: 0, count: 2, classes: 6))
        }
    }
}
