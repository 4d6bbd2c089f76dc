import Foundation
import Imaging
import XCTest
@testable import Training

/// predict's eval sizes: explicit options, else finetune's metrics.json beside the weights, else 256 / 224.
final class TrainedTransformTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("graft-tt-\(getpid())-\(name.hashValue)").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func writeMetrics(output: String, imageSize: Int, resize: Int) throws {
        let json = #"{"config": {"output": "\#(output)", "image_size": \#(imageSize), "resize": \#(resize)}, "epochs": []}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/metrics.json"))
    }

    func testMetricsBesideTheWeightsGiveTheTrainedSizes() throws {
        try writeMetrics(output: "sub/resNet18.pth", imageSize: 32, resize: 40)
        let r = TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil)
        XCTAssertEqual(r.transform, EvalTransform(resize: 40, crop: 32))
        XCTAssertEqual(r.source, dir + "/metrics.json")
    }

    func testExplicitOptionsWin() throws {
        try writeMetrics(output: "resNet18.pth", imageSize: 32, resize: 40)
        let w = dir + "/resNet18.pth"
        XCTAssertEqual(TrainedTransform.resolve(weights: w, imageSize: 64, resize: nil).transform, EvalTransform(resize: 73, crop: 64))
        XCTAssertEqual(TrainedTransform.resolve(weights: w, imageSize: nil, resize: 300).transform, EvalTransform(resize: 300, crop: 224))
        XCTAssertNil(TrainedTransform.resolve(weights: w, imageSize: 64, resize: 80).source)
    }

    func testMetricsOfAnotherModelOrNoneGiveTorchvisionsSizes() throws {
        try writeMetrics(output: "resNet34.pth", imageSize: 32, resize: 40)
        let other = TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil)
        XCTAssertEqual(other.transform, EvalTransform(resize: 256, crop: 224))
        XCTAssertNil(other.source)
        try FileManager.default.removeItem(atPath: dir + "/metrics.json")
        XCTAssertEqual(TrainedTransform.resolve(weights: dir + "/resNet34.pth", imageSize: nil, resize: nil).transform, EvalTransform())
        try Data("not json".utf8).write(to: URL(fileURLWithPath: dir + "/metrics.json"))
        XCTAssertEqual(TrainedTransform.resolve(weights: dir + "/resNet34.pth", imageSize: nil, resize: nil).transform, EvalTransform())
    }

    /// The reader and the writer of metrics.json are one schema: what `MetricsReport.write`
    /// writes, `MetricsReport.trainedModel` reads back.
    func testTheWrittenReportIsReadBack() throws {
        var config = TrainConfig(data: "data", classes: 3)
        config.output = "resNet18.pth"
        config.imageSize = 48
        config.resize = 55
        let report = MetricsReport(config: config, classes: ["a", "b", "c"], trainImages: 9, valImages: 3, bestValAccuracy: 0.5,
                                   unreadableImages: [], epochs: [])
        try report.write(to: dir + "/metrics.json")
        let read = try XCTUnwrap(MetricsReport.trainedModel(at: URL(fileURLWithPath: dir + "/metrics.json")))
        XCTAssertEqual([read.output, "\(read.imageSize)", "\(read.resize)"], ["resNet18.pth", "48", "55"])
        XCTAssertEqual(TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil).transform,
                       EvalTransform(resize: 55, crop: 48))
    }
}
