import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--patience` and `--monitor`: when a run stops, what it says, and that a resumed run stops
/// where an uninterrupted one does.
final class EarlyStoppingTests: XCTestCase {
    func epochs(_ values: [(Double, Double)]) -> [EpochMetrics] {
        values.enumerated().map { i, v in
            EpochMetrics(epoch: i + 1, lr: 0.1, trainLoss: 1, valLoss: v.1, valAccuracy: v.0, seconds: 1, imagesPerSecond: 1, skippedImages: 0)
        }
    }

    func testStopsAfterPatienceEpochsWithoutStrictImprovement() {
        let h = epochs([(0.5, 1.0), (0.7, 0.9), (0.7, 0.8), (0.6, 0.85), (0.69, 0.7)])
        XCTAssertNil(EarlyStop.check(h, monitor: .valAccuracy, patience: nil), "no --patience: never")
        XCTAssertNil(EarlyStop.check(Array(h.prefix(3)), monitor: .valAccuracy, patience: 2))
        let stop = EarlyStop.check(Array(h.prefix(4)), monitor: .valAccuracy, patience: 2)
        XCTAssertEqual(stop?.epoch, 4)
        XCTAssertEqual(stop?.bestEpoch, 2, "an equal accuracy is no improvement")
        XCTAssertEqual(stop?.reason, "val_accuracy has not improved for 2 epochs (--patience 2), best 0.7000 at epoch 2")
        XCTAssertNil(EarlyStop.check(h, monitor: .valLoss, patience: 2), "val loss improved at epoch 5")
        XCTAssertEqual(EarlyStop.check(Array(h.prefix(4)), monitor: .valLoss, patience: 1)?.bestEpoch, 3)
        XCTAssertNil(EarlyStop.check(Array(h.prefix(3)), monitor: .valLoss, patience: 1))
        let nan = epochs([(0.5, .nan), (0.5, .nan)])
        XCTAssertEqual(EarlyStop.check(nan, monitor: .valLoss, patience: 2)?.bestEpoch, 0, "NaN losses never improve")
    }

    func config(_ name: String) throws -> TrainConfig {
        var c = FinetuneTests.config(try FinetuneTests.workdir("stop-" + name), epochs: 8)
        c.optimizer.lr = 1e-12    // the weights barely move: val accuracy stays, and never improves
        c.patience = 2
        return c
    }

    func train(_ c: TrainConfig, until: Int? = nil, resume: Bool = false, report: ReportWriter? = nil) throws -> FinetuneJob {
        let job = try FinetuneJob.prepare(c, output: c.output, resume: resume, report: report, log: { _ in }, warn: { _ in })
        try job.run(until: until)
        return job
    }

    func testTheRunStopsSavesTheBestEpochAndSaysWhy() throws {
        let c = try config("run")
        let report = ReportWriter(path: (c.metrics as NSString).deletingLastPathComponent + "/report.html")
        let job = try train(c, report: report)
        let t = job.trainer
        XCTAssertEqual(t.history.count, 3, "epoch 1 is the best; epochs 2 and 3 do not beat it: \(t.history.map(\.valAccuracy))")
        XCTAssertEqual(t.earlyStop?.epoch, 3)
        XCTAssertEqual(t.earlyStop?.bestEpoch, 1)
        XCTAssertEqual(t.savedEpoch, 1, "the best epoch's model is the one saved")
        XCTAssertTrue(job.summary.hasPrefix("Finished Training. Stopped early after epoch 3 of 8: val_accuracy has not improved for 2 epochs"), job.summary)
        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
        let stop = try XCTUnwrap(metrics["early_stop"] as? [String: Any])
        XCTAssertEqual(stop["epoch"] as? Int, 3)
        XCTAssertEqual(stop["best_epoch"] as? Int, 1)
        XCTAssertEqual(stop["monitor"] as? String, "val_accuracy")
        XCTAssertEqual((metrics["config"] as? [String: Any])?["patience"] as? Int, 2)
        let html = try String(contentsOfFile: report.path, encoding: .utf8)
        XCTAssertTrue(html.contains("stopped early after epoch 3: val_accuracy has not improved for 2 epochs"), "report.html says why")
        XCTAssertTrue(html.contains("--patience 2 on val_accuracy"))
    }

    func testAResumedRunStopsWhereAnUninterruptedOneDoes() throws {
        let c = try config("resume")
        _ = try train(c, until: 2)
        let resumed = try train(c, resume: true).trainer
        XCTAssertEqual(resumed.history.count, 3)
        XCTAssertEqual(resumed.earlyStop?.epoch, 3)
        // The resume point after the stop: resuming again trains nothing more.
        let again = try train(c, resume: true).trainer
        XCTAssertEqual(again.history.count, 3)
        XCTAssertEqual(again.earlyStop?.epoch, 3)
    }
}
