import Engine
import Foundation
import TestSupport
import XCTest
@testable import Training

/// `finetune --find-lr` on Fixtures/trainset (`Finetune.findLearningRate`): the curve and the
/// page are written, nothing else (no model, class names, metrics or resume point); the model
/// and the optimizer come back as they were; the test is deterministic and runs over epochs.
final class FindLRRunTests: XCTestCase {
    /// Continuing a fine-tuned resNet34.pth: its file is the default --output, which the test
    /// never writes, so it is not refused as training is (outputIsTheWeights), and nothing is written.
    func testWeightsNamedAsTheDefaultOutput() throws {
        let dir = try FinetuneTests.workdir("findlr-weights")
        var c = FinetuneTests.config(dir, epochs: 1, augment: false)
        let weights = dir + "/resNet34.pth"
        try FileManager.default.copyItem(atPath: try XCTUnwrap(c.weights), toPath: weights)
        c.weights = weights
        c.output = weights
        XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })) {
            guard case TrainingError.outputIsTheWeights = $0 else { return XCTFail("\($0)") }
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: weights))
        let result = try Finetune.findLearningRate(c, settings: LRRangeTest.Settings(start: 1e-5, end: 10, steps: 8),
                                                   json: dir + "/lr_find.json", page: nil, commandLine: ["finetune", "--find-lr"],
                                                   log: { _ in }, warn: { _ in })
        XCTAssertFalse(result.lrs.isEmpty)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: weights)), before, "the weights are untouched")
        for path in [c.classIndices, c.metrics] { XCTAssertFalse(FileManager.default.fileExists(atPath: path), path) }
    }

    func testWritesTheCurveAndNoModel() throws {
        let dir = try FinetuneTests.workdir("findlr")
        let c = FinetuneTests.config(dir, epochs: 1, augment: true)
        let settings = LRRangeTest.Settings(start: 1e-5, end: 10, steps: 30)
        let json = dir + "/lr_find.json", page = dir + "/lr_find.html"
        var lines: [String] = []
        let result = try Finetune.findLearningRate(c, settings: settings, json: json, page: page,
                                                   commandLine: ["finetune", "--find-lr", "--lr", "0.02", "--classes", "3", "data"],
                                                   log: { lines.append($0) }, warn: { _ in })
        // Fixtures/trainset's epoch is a few batches: the test ran on through several epochs.
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })
        let perEpoch = job.trainer.stepsPerEpoch
        job.releaseFolders()
        XCTAssertLessThan(perEpoch, 10)
        XCTAssertGreaterThan(result.lrs.count, perEpoch, "the test ran over more than one epoch")
        XCTAssertTrue(result.stop == .steps ? result.lrs.count == 30 : result.lrs.count < 30)
        XCTAssertEqual(result.lrs, (0..<result.lrs.count).map { LRRangeTest.rate(step: $0, start: 1e-5, end: 10, steps: 30) })
        XCTAssertTrue(result.losses.allSatisfy { $0.isFinite || result.stop == .diverged })
        // Nothing of training's is written.
        for path in [c.output, c.classIndices, c.metrics, ResumeState.paths(for: c).json, ResumeState.paths(for: c).tensors] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), path)
        }
        // lr_find.json holds the curve, the settings and the run's config.
        let written = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        XCTAssertEqual((written["lrs"] as? [Double])?.count, result.lrs.count)
        XCTAssertEqual((written["smoothed_losses"] as? [Any])?.count, result.lrs.count)
        XCTAssertEqual((written["settings"] as? [String: Any])?["steps"] as? Int, 30)
        XCTAssertEqual((written["config"] as? [String: Any])?["policy"] as? String, "fc")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("<polyline"), "the curve is drawn")
        if let s = result.suggestions {
            XCTAssertNotNil(written["suggestions"])
            XCTAssertTrue(html.contains("data-name=\"valley\""))
            XCTAssertTrue(lines.contains { $0.contains("Suggested learning rate: \(LRFinderResult.text(s.valley.lr))") }, "\(lines)")
            XCTAssertTrue(lines.contains { $0 == "Train with it: finetune --classes 3 data --lr \(LRFinderResult.text(s.valley.lr))" }, "\(lines)")
            XCTAssertFalse(lines.contains { $0.contains("--lr 0.02") }, "the old --lr is taken out")
        } else {
            XCTFail("30 steps keep 22 records: a suggestion is expected (\(result.stop), \(result.lrs.count) steps)")
        }

        // The same seed gives the same test, bit for bit.
        let again = try Finetune.findLearningRate(c, settings: settings, json: json, page: nil, log: { _ in }, warn: { _ in })
        XCTAssertEqual(again.losses.map(\.bitPattern), result.losses.map(\.bitPattern))
    }

    /// fastai's after_fit: the model and the optimizer come back as they were.
    func testModelAndOptimizerAreRestored() throws {
        for policy in [TrainConfig.Policy.fc, .all] {
            let dir = try FinetuneTests.workdir("findlr-restore-\(policy)")
            var c = FinetuneTests.config(dir, epochs: 1, augment: true)
            c.policy = policy
            c.frozenBN = .train
            let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })
            defer { job.releaseFolders() }
            let t = job.trainer
            let before = t.model.stateDict(), statistics = t.model.runningStatistics, lr = t.optimizer.lr
            let test = try t.findLearningRate(.init(start: 1e-4, end: 1, steps: 8))
            XCTAssertEqual(test.lrs.count, 8, "\(policy)")
            XCTAssertEqual(t.model.stateDict(), before, "\(policy)")
            XCTAssertEqual(t.model.runningStatistics, statistics, "\(policy)")
            XCTAssertTrue(t.optimizer.buffers.isEmpty && t.optimizer.steps.isEmpty, "\(policy)")
            XCTAssertEqual(t.optimizer.lr, lr)
            XCTAssertEqual(t.globalStep, 0)
        }
    }

    /// --mixup-alpha is applied as training applies it: the same steps see mixed batches.
    func testMixupIsApplied() throws {
        let dir = try FinetuneTests.workdir("findlr-mix")
        var c = FinetuneTests.config(dir, epochs: 1, augment: true)
        let settings = LRRangeTest.Settings(start: 1e-4, end: 1, steps: 8)
        let plain = try Finetune.findLearningRate(c, settings: settings, json: dir + "/a.json", page: nil, log: { _ in }, warn: { _ in })
        c.mixupAlpha = 0.4
        let mixed = try Finetune.findLearningRate(c, settings: settings, json: dir + "/b.json", page: nil, log: { _ in }, warn: { _ in })
        XCTAssertEqual(plain.losses.count, 8)
        XCTAssertEqual(mixed.losses.count, 8)
        XCTAssertNotEqual(plain.losses, mixed.losses)
    }

    /// --accumulate 2 at batch 4 records what batch 8 records (--train fc, frozen batch norm,
    /// no augmentation): each record is an optimizer step over the group's images.
    func testAccumulatedStepsAreRecordedAsOne() throws {
        let a = try FinetuneTests.workdir("findlr-acc"), b = try FinetuneTests.workdir("findlr-big")
        var ca = FinetuneTests.config(a, epochs: 1), cb = FinetuneTests.config(b, epochs: 1)
        ca.batchSize = 4; ca.accumulate = 2; cb.batchSize = 8
        let settings = LRRangeTest.Settings(start: 1e-3, end: 1, steps: 8)
        let acc = try Finetune.findLearningRate(ca, settings: settings, json: a + "/lr_find.json", page: nil, log: { _ in }, warn: { _ in })
        let big = try Finetune.findLearningRate(cb, settings: settings, json: b + "/lr_find.json", page: nil, log: { _ in }, warn: { _ in })
        XCTAssertEqual(acc.lrs, big.lrs)
        // The first epoch's first three groups are whole (30 images: the fourth is 4 + 2 images,
        // which --accumulate weighs by batch, not by image, as torch's loop does).
        for i in 0..<3 { XCTAssertEqual(acc.losses[i], big.losses[i], accuracy: 1e-5 * max(1, abs(big.losses[i])), "step \(i): \(acc.losses) vs \(big.losses)") }
        XCTAssertNotEqual(acc.losses[1], acc.losses[0])
    }

    func testTrainingCommandTakesTheTestOptionsOut() {
        let args = ["finetune", "--weights", "w.pth", "--find-lr", "--find-lr-steps", "50", "--find-lr-end=1", "--lr=0.1",
                    "--classes", "3", "my data"]
        let out = LRFinderResult.trainingCommand(args, lr: 0.00123456)
        XCTAssertEqual(out, ["finetune", "--weights", "w.pth", "--classes", "3", "my data", "--lr", "0.00123"])
        XCTAssertEqual(LRFinderResult.shellQuoted(out), "finetune --weights w.pth --classes 3 'my data' --lr 0.00123")
        // graft's subcommand stays first; nothing goes after a `--`.
        XCTAssertEqual(LRFinderResult.trainingCommand(["graft", "finetune", "--find-lr", "--classes", "3", "--", "-data"], lr: 0.5),
                       ["graft", "finetune", "--classes", "3", "--lr", "0.5", "--", "-data"])
    }
}
