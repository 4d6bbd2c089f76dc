import TestSupport
import Foundation
import Imaging
import Inference
import XCTest
@testable import Training

/// predict's eval sizes: explicit options, else finetune's metrics.json beside the weights, else 256 / 224.
final class TrainedTransformTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = Scratch.root.appendingPathComponent("graft-tt-\(getpid())-\(name.hashValue)").path
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

    /// A run with --train-crop 24 --val-crop 32 --val-resize 40: predict takes the val sizes,
    /// never the train crop (an older metrics.json, without train_crop, is the test above).
    func testTheTrainCropIsNotWhatPredictUses() throws {
        let json = #"{"config": {"output": "resNet18.pth", "train_crop": 24, "image_size": 32, "resize": 40}, "epochs": []}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/metrics.json"))
        let r = TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil)
        XCTAssertEqual(r.transform, EvalTransform(resize: 40, crop: 32))
        XCTAssertEqual(r.source, dir + "/metrics.json")
    }

    /// The weights' own `<stem>.metrics.json` (finetune --metrics a.metrics.json, or weights/'s
    /// fashion04-resnet18.metrics.json) gives its sizes whatever its output says, and before a
    /// metrics.json of the same folder; another stem's is not read.
    func testTheWeightsOwnMetricsFileGivesTheSizes() throws {
        try writeMetrics(output: "resNet18.pth", imageSize: 32, resize: 40)
        let json = #"{"config": {"output": "renamed-since.pth", "image_size": 48, "resize": 56}, "epochs": []}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/fashion.metrics.json"))
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/resNet18.metrics.json"))
        let own = TrainedTransform.resolve(weights: dir + "/fashion.pth", imageSize: nil, resize: nil)
        XCTAssertEqual(own.transform, EvalTransform(resize: 56, crop: 48))
        XCTAssertEqual(own.source, dir + "/fashion.metrics.json")
        XCTAssertEqual(TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil).source, dir + "/resNet18.metrics.json")
        try FileManager.default.removeItem(atPath: dir + "/resNet18.metrics.json")
        XCTAssertEqual(TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil).source, dir + "/metrics.json")
        XCTAssertNil(TrainedTransform.resolve(weights: dir + "/other.pth", imageSize: nil, resize: nil).source)
    }

    /// Class names: class_indices.json; else the weights' own metrics file's `classes`; and a
    /// class_indices.json that names them differently from that file (another model's, with as
    /// many classes) is used with a warning naming both.
    func testClassNamesComeFromTheWeightsMetricsFileAndDisagreementsAreSaid() throws {
        let weights = dir + "/fashion.pth", indices = dir + "/class_indices.json"
        let metrics = #"{"config": {"output": "fashion.pth", "image_size": 32, "resize": 32}, "classes": ["coat", "dress", "pullover"], "epochs": []}"#
        try Data(metrics.utf8).write(to: URL(fileURLWithPath: dir + "/fashion.metrics.json"))
        let fromMetrics = try Predictor.classNames(classes: 3, weights: weights, classIndices: indices, knownNames: nil)
        XCTAssertEqual(fromMetrics.names, ["coat", "dress", "pullover"])
        XCTAssertNil(fromMetrics.warning)
        // As many names, another model's: used, and said.
        try Data(#"{"0": "daisy", "1": "rose", "2": "tulip"}"#.utf8).write(to: URL(fileURLWithPath: indices))
        let other = try Predictor.classNames(classes: 3, weights: weights, classIndices: indices, knownNames: nil)
        XCTAssertEqual(other.names, ["daisy", "rose", "tulip"])
        let warning = try XCTUnwrap(other.warning)
        XCTAssertTrue(warning.contains("names the classes daisy, rose, tulip") && warning.contains(dir + "/fashion.metrics.json")
                      && warning.contains("names them coat, dress, pullover"), warning)
        // The same names: nothing to say.
        try Data(#"{"0": "coat", "1": "dress", "2": "pullover"}"#.utf8).write(to: URL(fileURLWithPath: indices))
        XCTAssertNil(try Predictor.classNames(classes: 3, weights: weights, classIndices: indices, knownNames: nil).warning)
        // A model with another class count: the metrics file's names do not apply.
        try FileManager.default.removeItem(atPath: indices)
        let four = try Predictor.classNames(classes: 4, weights: weights, classIndices: indices, knownNames: nil)
        XCTAssertEqual(four.names, ["0", "1", "2", "3"])
        XCTAssertTrue(four.warning?.contains("not found") ?? false)
    }

    /// Hostile metrics files give no class names and no sizes, and nothing crashes: classes that
    /// are not strings or not a list, an empty list, a folder in the file's place, bytes that
    /// are not JSON, a list longer than the model's classes.
    func testHostileMetricsFilesAreIgnored() throws {
        let weights = dir + "/m.pth", metrics = dir + "/m.metrics.json"
        let bodies = [#"{"config": {"output": "m.pth", "image_size": 32, "resize": 32}, "classes": [1, 2, 3]}"#,
                      #"{"config": {"output": "m.pth", "image_size": 32, "resize": 32}, "classes": "abc"}"#,
                      #"{"config": {"output": "m.pth", "image_size": 32, "resize": 32}, "classes": []}"#,
                      #"{"config": {"output": "m.pth", "image_size": -1, "resize": 32}, "classes": ["a", "b", "c"]}"#,
                      "\u{0}\u{ff}not json", ""]
        for (i, body) in bodies.enumerated() {
            try Data(body.utf8).write(to: URL(fileURLWithPath: metrics))
            let names = try Predictor.classNames(classes: 3, weights: weights, classIndices: dir + "/class_indices.json", knownNames: nil)
            XCTAssertEqual(names.names, ["0", "1", "2"], body)
            // The first three have good sizes beside their bad classes; the others none.
            XCTAssertEqual(TrainedTransform.resolve(weights: weights, imageSize: nil, resize: nil).transform,
                           i < 3 ? EvalTransform(resize: 32, crop: 32) : EvalTransform(), body)
        }
        // A list of another length than the model's classes: not its names.
        try Data(#"{"config": {"output": "m.pth", "image_size": 32, "resize": 32}, "classes": ["a", "b"]}"#.utf8).write(to: URL(fileURLWithPath: metrics))
        XCTAssertEqual(try Predictor.classNames(classes: 3, weights: weights, classIndices: nil, knownNames: nil).names, ["0", "1", "2"])
        try FileManager.default.removeItem(atPath: metrics)
        try FileManager.default.createDirectory(atPath: metrics, withIntermediateDirectories: false)
        XCTAssertNil(TrainedTransform.metricsFile(weights: weights))
        XCTAssertEqual(try Predictor.classNames(classes: 3, weights: weights, classIndices: nil, knownNames: nil).names, ["0", "1", "2"])
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
        let scored = try ClassificationReport(classNames: ["a", "b", "c"], labels: [0, 1, 2], predictions: [0, 2, 2])
        let report = MetricsReport(config: config, classes: ["a", "b", "c"], trainImages: 9, valImages: 3, bestValAccuracy: 0.5,
                                   unreadableImages: [], epochs: [], bestEpochEvaluation: BestEpochEvaluation(epoch: 2, scored))
        try report.write(to: dir + "/metrics.json")
        // Schema 2: the version, and the saved model's figures, read back whole.
        let json = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json"))) as? [String: Any])
        XCTAssertEqual(json["schema_version"] as? Int, 2)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        struct Schema2: Decodable { let schemaVersion: Int; let bestEpochEvaluation: BestEpochEvaluation? }
        let whole = try decoder.decode(Schema2.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json")))
        XCTAssertEqual(whole.bestEpochEvaluation, report.bestEpochEvaluation)
        XCTAssertEqual(whole.bestEpochEvaluation?.confusionMatrix, [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
        XCTAssertEqual(whole.bestEpochEvaluation?.perClass.map(\.scores.f1Score), scored.perClass.map(\.f1))
        let evaluation = try XCTUnwrap(json["best_epoch_evaluation"] as? [String: Any])
        XCTAssertEqual(Set(evaluation.keys), ["epoch", "accuracy", "count", "confusion_matrix", "per_class", "macro_avg", "weighted_avg"])
        XCTAssertEqual((evaluation["macro_avg"] as? [String: Any])?["f1_score"] as? Double, scored.macro.f1)
        let read = try XCTUnwrap(MetricsReport.trainedModel(at: URL(fileURLWithPath: dir + "/metrics.json")))
        XCTAssertEqual([read.output, "\(read.imageSize)", "\(read.resize)"], ["resNet18.pth", "48", "55"])
        XCTAssertEqual(TrainedTransform.resolve(weights: dir + "/resNet18.pth", imageSize: nil, resize: nil).transform,
                       EvalTransform(resize: 55, crop: 48))
    }
}
