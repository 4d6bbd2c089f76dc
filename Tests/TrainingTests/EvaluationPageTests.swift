import Foundation
import HTMLReport
import Imaging
import Inference
import TestSupport
import XCTest
@testable import Training

/// `evaluate --report`: the report's evaluation parts for Fixtures/evaluate's model on
/// Fixtures/trainset/train, self-contained, with the confusion matrix ClassificationReport gives.
final class EvaluationPageTests: XCTestCase {
    func testThePageHoldsTheEvaluationParts() throws {
        let predictor = try Predictor(weights: FixturePaths.path("evaluate/model.pth"),
                                      classIndices: FixturePaths.path("evaluate/class_indices.json"))
        let v = try Evaluation.run(dir: FixturePaths.path("trainset/train"), predictor: predictor, batchSize: 4) { _ in }
        let writer = ReportWriter(path: "unused.html")
        let page = EvaluationPage.html(folder: "trainset/train", weights: "model.pth", evaluation: v, thumbnail: writer.thumbnail)
        for part in ["confusion", "per-class", "mistakes", "warnings"] { XCTAssertTrue(page.contains("id=\"\(part)\""), part) }
        XCTAssertFalse(page.contains("<script"))
        XCTAssertFalse(page.contains("http://") || page.contains("https://"))
        // Every confusion cell is ClassificationReport's count.
        for (t, row) in v.report.confusion.enumerated() {
            for (p, n) in row.enumerated() {
                XCTAssertTrue(page.contains("data-true=\"\(t)\" data-pred=\"\(p)\"") && page.range(of: "data-true=\"\(t)\" data-pred=\"\(p)\" style=\"[^\"]*\">\(n)</td>", options: .regularExpression) != nil,
                              "cell \(t), \(p) should be \(n)")
            }
        }
        // 16 mistakes as JPEG thumbnails that decode; the unreadable image is listed once.
        let images = page.components(separatedBy: "data:image/jpeg;base64,").dropFirst()
        XCTAssertEqual(images.count, min(16, v.labels.indices.filter { ClassificationReport.argmax(v.probabilities[$0]) != v.labels[$0] }.count))
        for chunk in images {
            let b64 = String(chunk.prefix { $0 != "\"" })
            let jpeg = try XCTUnwrap(Data(base64Encoded: b64))
            XCTAssertEqual(Array(jpeg.prefix(2)), [0xFF, 0xD8])
            XCTAssertNoThrow(try ImageDecoder.decode(bytes: [UInt8](jpeg), path: "thumbnail"))
        }
        XCTAssertEqual(page.components(separatedBy: "99_corrupt.jpg").count - 1, 1, "the unreadable image, once")
    }
}
