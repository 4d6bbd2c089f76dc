import TestSupport
import Foundation
import Imaging
import XCTest
import Inference
@testable import Training

/// `--train-crop` apart from `--val-crop`/`--val-resize` (torchvision's reference trains at 176
/// and validates at 232 / 224): the training batches are train-crop squares, validation and
/// predict use the val sizes, metrics.json records both, and --resume names a changed crop.
final class TrainCropTests: XCTestCase {
    /// Fixtures/trainset at --train-crop 32 --val-crop 40 --val-resize 40.
    func config(_ dir: String, epochs: Int = 2) -> TrainConfig {
        var c = FinetuneTests.config(dir, epochs: epochs, augment: true)
        c.trainCrop = 32
        c.imageSize = 40
        c.resize = 40
        c.conv = .winograd
        return c
    }

    func train(_ c: TrainConfig, until: Int? = nil, resume: Bool = false) throws -> Trainer {
        let job = try FinetuneJob.prepare(c, output: c.output, resume: resume, log: { _ in }, warn: { _ in })
        try job.run(until: until)
        return job.trainer
    }

    func testTrainsOnTheTrainCropValidatesAndPredictsAtTheValSizes() throws {
        let dir = try FinetuneTests.workdir("crop")
        let c = config(dir)
        let t = try train(c)
        // The batches the steps took: 32x32 crops; validation's: Resize 40 + CenterCrop 40.
        let train = t.trainLoader, val = t.valLoader
        XCTAssertEqual(train.imageSize, 32)
        XCTAssertTrue(train.augment)
        let batch = train.load([0, 1, 2], epoch: 0)
        XCTAssertEqual(batch.failures.count, 0)
        XCTAssertEqual(batch.images.count, 3 * 3 * 32 * 32, "three 3x32x32 training images")
        XCTAssertEqual(try train.image(0, epoch: 1).width, 32)
        XCTAssertEqual(val.imageSize, 40)
        XCTAssertEqual(val.resize, 40)
        XCTAssertFalse(val.augment)
        XCTAssertEqual(val.load([0], epoch: 0).images.count, 3 * 40 * 40)
        XCTAssertEqual(t.history.count, 2)
        XCTAssertTrue(t.history.allSatisfy { $0.trainLoss.isFinite && $0.valLoss.isFinite }, "\(t.history)")
        // metrics.json records both: the val sizes where predict reads them, the train crop apart.
        let json = try ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any]
        let config = json?["config"] as? [String: Any]
        XCTAssertEqual(config?["train_crop"] as? Int, 32)
        XCTAssertEqual(config?["image_size"] as? Int, 40)
        XCTAssertEqual(config?["resize"] as? Int, 40)
        // predict, batch_predict and evaluate: the eval sizes, never the train crop.
        let resolved = TrainedTransform.resolve(weights: c.output, imageSize: nil, resize: nil)
        XCTAssertEqual(resolved.transform, EvalTransform(resize: 40, crop: 40), "what metrics.json says the model was validated at")
        XCTAssertEqual(resolved.source, c.metrics)
        let predictor = try Predictor(weights: c.output, classIndices: nil, transform: resolved.transform)
        var predicted = 0
        try predictor.predict(paths: [try ImageFolder(root: c.data).val[0].path], batchSize: 1) { _, r in
            if case .success = r { predicted += 1 }
        }
        XCTAssertEqual(predicted, 1)
    }

    /// Without --train-crop a run trains at its image size, as before.
    func testTheTrainCropDefaultsToTheValCrop() throws {
        var c = FinetuneTests.config("/nowhere", augment: true)
        XCTAssertNil(c.trainCrop)
        XCTAssertEqual(c.trainingCrop, 32)
        c.trainCrop = 24
        XCTAssertEqual(c.trainingCrop, 24)
        XCTAssertEqual(c.imageSize, 32)
    }

    /// --resume with another --train-crop is refused, naming it; with the same one, the resumed
    /// run continues exactly as the uninterrupted one.
    func testResumeNamesAChangedTrainCropAndContinuesExactly() throws {
        let a = try FinetuneTests.workdir("crop-a"), b = try FinetuneTests.workdir("crop-b")
        let ca = config(a, epochs: 3), cb = config(b, epochs: 3)
        let straight = try train(ca)
        _ = try train(cb, until: 1)
        var other = cb
        other.trainCrop = 24
        XCTAssertThrowsError(try train(other, resume: true)) {
            guard case let .differentRun(_, differences)? = $0 as? ResumeError else { return XCTFail("\($0)") }
            XCTAssertEqual(differences, [OptionDifference(option: "--train-crop", saved: "32", given: "24")])
            XCTAssertTrue("\($0)".contains("--train-crop: the run was started with 32, this command gives 24"), "\($0)")
        }
        let resumed = try train(cb, resume: true)
        XCTAssertEqual(resumed.history.count, 3)
        XCTAssertEqual(straight.history.map(\.trainLoss), resumed.history.map(\.trainLoss))
        XCTAssertEqual(straight.history.map(\.valLoss), resumed.history.map(\.valLoss))
        XCTAssertEqual(try ResumeState.read(for: ca).modelState, try ResumeState.read(for: cb).modelState)
    }

    /// A resume point written before --train-crop (no train_crop in its config) trained at its
    /// image size: it resumes as that, and refuses another train crop.
    func testAResumePointFromBeforeTrainCropResumes() throws {
        let dir = try FinetuneTests.workdir("crop-old")
        var c = FinetuneTests.config(dir, epochs: 2, augment: true)
        _ = try train(c, until: 1)
        let path = ResumeState.paths(for: c).json
        var json = try ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var config = json["config"] as! [String: Any]
        XCTAssertNotNil(config.removeValue(forKey: "train_crop") ?? config.removeValue(forKey: "trainCrop"), "\(config.keys)")
        json["config"] = config
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        var changed = c
        changed.trainCrop = 24
        XCTAssertThrowsError(try train(changed, resume: true)) {
            guard case let .differentRun(_, differences)? = $0 as? ResumeError else { return XCTFail("\($0)") }
            XCTAssertEqual(differences, [OptionDifference(option: "--train-crop", saved: "32", given: "24")])
        }
        c.trainCrop = 32
        XCTAssertEqual(try train(c, resume: true).history.count, 2)
    }
}
