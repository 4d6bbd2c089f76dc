import Foundation
import HTMLReport
import Inference
import XCTest
@testable import Training

/// evaluate checks every path it will write before it loads the model or reads an image
/// (issue 19, item 13), with finetune's check.
final class EvaluationRunTests: XCTestCase {
    struct NotReached: Error {}

    func testAnUnwritableReportFailsBeforeAnythingIsScored() throws {
        var loaded = false
        for path in ["/nonexistent-graft-folder/report.html", NSTemporaryDirectory()] {
            XCTAssertThrowsError(try EvaluationRun.run(dir: "unused", report: path, weights: "w.pth", batchSize: 1,
                                                       makePredictor: { loaded = true; throw NotReached() }, warn: { _ in })) { error in
                guard case .cannotWrite(let p, let option, _, _)? = error as? OutputPath.Failure else {
                    return XCTFail("expected cannotWrite, got \(error)")
                }
                XCTAssertEqual(p, path)
                XCTAssertEqual(option, "--report")
                XCTAssertTrue("\(error)".contains("--report \(path): cannot write it"), "\(error)")
            }
        }
        XCTAssertFalse(loaded, "the model was loaded (and the images would be scored) before the check")
    }
}
