import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest
@testable import Training

/// `--mixup-alpha`, `--cutmix-alpha` and `--ema-decay` in runs (Fixtures/trainset, the fc head
/// on a frozen trunk): the drawing's distribution, exact resumes, the average saved when it
/// validates better, and the cached-features path left out when batches are mixed.
final class MixingAndAverageRunTests: XCTestCase {
    func job(_ c: TrainConfig, resume: Bool = false, report: ReportWriter? = nil, log: @escaping (String) -> Void = { _ in }) throws -> FinetuneJob {
        try FinetuneJob.prepare(c, output: c.output, resume: resume, report: report, log: log, warn: { _ in })
    }

    /// Lambda's mean and variance are Beta(a, a)'s (1/2 and 1 / (4 (2a + 1))) and with both on
    /// each is chosen half the time, over 20000 draws (bounds of about 5 standard errors).
    func testDrawsFollowBetaAndChooseEvenly() {
        for alpha in [0.2, 1.0, 3.0] {
            let m = BatchMixing(mixupAlpha: alpha, cutmixAlpha: nil)
            let n = 20000
            let l = (0..<n).map { m.draw(seed: 3, epoch: $0 / 100, batch: $0 % 100, rank: 0, height: 32, width: 32).lambda }
            let mean = l.reduce(0, +) / Double(n)
            let variance = l.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
            let expected = 1 / (4 * (2 * alpha + 1))
            XCTAssertEqual(mean, 0.5, accuracy: 5 * (expected / Double(n)).squareRoot(), "alpha \(alpha)")
            XCTAssertEqual(variance, expected, accuracy: 5 * expected * (2 / Double(n)).squareRoot(), "alpha \(alpha)")
            XCTAssertTrue(l.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        let both = BatchMixing(mixupAlpha: 0.2, cutmixAlpha: 1.0)
        let draws = (0..<20000).map { both.draw(seed: 9, epoch: 0, batch: $0, rank: 0, height: 24, width: 40) }
        let mixups = draws.filter { $0.kind == .mixup }.count
        XCTAssertEqual(Double(mixups) / 20000, 0.5, accuracy: 5 * (0.25 / 20000).squareRoot())
        // CutMix's lambda is Beta(1, 1) (mean 1/2); its box is drawn as torchvision draws it and the
        // corrected lambda is the box's area.
        let cut = draws.filter { $0.kind == .cutmix }
        XCTAssertEqual(cut.map(\.lambda).reduce(0, +) / Double(cut.count), 0.5, accuracy: 5 * (1 / 12 / Double(cut.count)).squareRoot())
        for d in cut.prefix(200) {
            let b = d.box!
            XCTAssertTrue(b.x1 >= 0 && b.x1 <= b.x2 && b.x2 <= 40 && b.y1 >= 0 && b.y1 <= b.y2 && b.y2 <= 24, "\(b)")
            XCTAssertEqual(d.targetLambda, BatchMixing.area(b, height: 24, width: 40))
        }
        // One draw per (seed, epoch, batch, rank).
        XCTAssertEqual(both.draw(seed: 9, epoch: 2, batch: 5, rank: 1, height: 8, width: 8), both.draw(seed: 9, epoch: 2, batch: 5, rank: 1, height: 8, width: 8))
        XCTAssertNotEqual(both.draw(seed: 9, epoch: 2, batch: 5, rank: 1, height: 8, width: 8).lambda, both.draw(seed: 9, epoch: 2, batch: 5, rank: 0, height: 8, width: 8).lambda)
        XCTAssertNil(BatchMixing(TrainConfig(data: "d", classes: 2)), "off by default")
    }

    func config(_ dir: String, epochs: Int, augment: Bool) -> TrainConfig {
        var c = FinetuneTests.config(dir, epochs: epochs, augment: augment)
        c.mixupAlpha = 0.4; c.cutmixAlpha = 1.0; c.emaDecay = 0.8
        return c
    }

    /// A run interrupted after epoch 1 resumes to the uninterrupted run's weights and weight
    /// average, with the same figures (the average's too), on the augmented path and on
    /// --no-augment (whose features are then not cached).
    func testResumeContinuesExactly() throws {
        var finished = ""
        for augment in [true, false] {
            let a = try FinetuneTests.workdir("mixema-a\(augment)"), b = try FinetuneTests.workdir("mixema-b\(augment)")
            finished = b
            var lines: [String] = []
            let straight = try job(config(a, epochs: 3, augment: augment), log: { lines.append($0) })
            try straight.run()
            XCTAssertFalse(lines.contains { $0.contains("features once") }, "mixed batches run the trunk: \(lines)")
            XCTAssertTrue(lines.contains { $0.contains("ema val_loss") }, "\(lines)")
            let first = try job(config(b, epochs: 3, augment: augment))
            try first.run(until: 1)
            first.releaseFolders()
            let resumed = try job(config(b, epochs: 3, augment: augment), resume: true)
            try resumed.run()
            let h1 = straight.trainer.history, h2 = resumed.trainer.history
            XCTAssertEqual(h2.map(\.trainLoss), h1.map(\.trainLoss), "augment \(augment)")
            XCTAssertEqual(h2.map(\.emaValLoss), h1.map(\.emaValLoss), "augment \(augment)")
            XCTAssertEqual(h2.map(\.emaChosen), h1.map(\.emaChosen), "augment \(augment)")
            XCTAssertTrue(h1.allSatisfy { $0.emaValAccuracy != nil })
            let sa = try ResumeState.read(for: config(a, epochs: 3, augment: augment)), sb = try ResumeState.read(for: config(b, epochs: 3, augment: augment))
            XCTAssertEqual(sa.modelState, sb.modelState, "augment \(augment)")
            let ea = try XCTUnwrap(sa.emaState), eb = try XCTUnwrap(sb.emaState)
            XCTAssertEqual(ea, eb, "augment \(augment)")
            XCTAssertEqual(Set(ea.items.map(\.0)), ["fc.weight", "fc.bias"], "a frozen trunk is not copied")
            XCTAssertNotEqual(ea["fc.weight"], sa.modelState["fc.weight"])
            XCTAssertEqual(try Checkpoint(contentsOf: config(a, epochs: 3, augment: augment).output).stateDict,
                           try Checkpoint(contentsOf: config(b, epochs: 3, augment: augment).output).stateDict)
        }
        // Another decay, or none, is another run: named.
        var other = config(finished, epochs: 3, augment: false)
        other.emaDecay = 0.9
        XCTAssertThrowsError(try job(other, resume: true)) { XCTAssertTrue("\($0)".contains("--ema-decay"), "\($0)") }
        other = config(finished, epochs: 3, augment: false)
        other.mixupAlpha = nil
        XCTAssertThrowsError(try job(other, resume: true)) { XCTAssertTrue("\($0)".contains("--mixup-alpha"), "\($0)") }
    }

    /// The saved model is the average when the average validates better (here: SGD at a rate
    /// that ruins the head within an epoch, and an average that barely moved), and the model
    /// when the model does (an average with decay 0.9999 stays near the random head); the file,
    /// metrics.json's saved_weights and best_epoch_evaluation say which.
    func testTheAverageIsSavedWhenItValidatesBetter() throws {
        for (decay, lr, expectAverage) in [(0.995, 40.0, true), (0.9999, 0.02, false)] {
            let dir = try FinetuneTests.workdir("emasave\(expectAverage)")
            var c = FinetuneTests.config(dir, epochs: 1)
            c.optimizer = OptimizerConfig(kind: expectAverage ? .sgd : .adam, lr: lr)
            c.emaDecay = decay
            c.monitor = .valLoss
            c.mixupAlpha = 0.2
            let report = dir + "/report.html"
            let j = try job(c, report: ReportWriter(path: report, commandLine: ["finetune"]))
            try j.run()
            let t = j.trainer
            let m = try XCTUnwrap(t.history.first)
            XCTAssertEqual(m.emaChosen, expectAverage, "model \(m.valLoss) / average \(m.emaValLoss ?? -1)")
            let saved = try Checkpoint(contentsOf: c.output).stateDict
            let averaged = try XCTUnwrap(t.ema).withAverage(in: t.model) { t.model.stateDict() }
            XCTAssertEqual(saved, expectAverage ? averaged : t.model.stateDict())
            XCTAssertNotEqual(averaged, t.model.stateDict())
            let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
            XCTAssertEqual(metrics["saved_weights"] as? String, expectAverage ? "ema" : "model")
            XCTAssertEqual(try XCTUnwrap(metrics["config"] as? [String: Any])["ema_decay"] as? Double, decay)
            let epoch = try XCTUnwrap((metrics["epochs"] as? [[String: Any]])?.first)
            XCTAssertEqual(epoch["ema_val_loss"] as? Double, m.emaValLoss)
            let best = try XCTUnwrap(metrics["best_epoch_evaluation"] as? [String: Any])
            XCTAssertEqual(best["accuracy"] as? Double, expectAverage ? m.emaValAccuracy : m.valAccuracy)
            let html = try String(contentsOfFile: report, encoding: .utf8)
            XCTAssertTrue(html.contains("--ema-decay \(decay)"), "report.html names the average")
            XCTAssertTrue(html.contains(expectAverage ? "holds epoch 1&#39;s average" : "holds epoch 1&#39;s model") || html.contains(expectAverage ? "holds epoch 1's average" : "holds epoch 1's model"),
                          "report.html says which weights were saved")
            XCTAssertTrue(html.contains("--mixup-alpha 0.2 (MixUp"), "report.html names the mixing")
        }
    }
}
