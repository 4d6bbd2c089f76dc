import Checkpoint
import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--accumulate N` in a run (Fixtures/trainset, the fc head on a frozen trunk): N batches of b
/// step as one batch of N x b, the schedule counts optimizer steps, the option is recorded,
/// and a run interrupted at an epoch boundary resumes to the uninterrupted run's weights.
final class AccumulatedFinetuneTests: XCTestCase {
    func job(_ c: TrainConfig, resume: Bool = false, report: ReportWriter? = nil) throws -> FinetuneJob {
        try FinetuneJob.prepare(c, output: c.output, resume: resume, report: report, log: { _ in }, warn: { _ in })
    }

    /// Fixtures/trainset with 8 training images a class: 24, a whole number of batches of 8.
    func evenData(_ dir: String) throws -> String {
        let fm = FileManager.default, src = FixturePaths.path("trainset"), data = dir + "/data"
        for split in ["train", "val"] {
            for cls in ["daisy", "roses", "tulips"] {
                let to = "\(data)/\(split)/\(cls)"
                try fm.createDirectory(atPath: to, withIntermediateDirectories: true)
                var names = try fm.contentsOfDirectory(atPath: "\(src)/\(split)/\(cls)")
                    .filter { ($0.hasSuffix(".jpg") || $0.hasSuffix(".png")) && !$0.contains("corrupt") }.sorted()
                if split == "train" { names = Array(names.prefix(8)) }
                for n in names { try fm.copyItem(atPath: "\(src)/\(split)/\(cls)/\(n)", toPath: "\(to)/\(n)") }
            }
        }
        return data
    }

    /// The claim: `--train fc --frozen-bn eval`, 2 batches of 4 accumulated, trains the
    /// weights one batch of 8 trains, within 1e-5. An epoch's order is a shuffle of the training
    /// indices by seed and epoch alone, whatever the batch size, so batches 2k and 2k+1 of 4
    /// are batch k of 8. The data has 24 training images so every group is whole: with 30, the
    /// last group would be a batch of 4 and one of 2, each x 1/2 (torch's loop), which is not
    /// the mean over a batch of 6.
    func testTwoBatchesOfFourStepAsOneBatchOfEight() throws {
        let a = try FinetuneTests.workdir("acc-a"), b = try FinetuneTests.workdir("acc-b")
        var eight = FinetuneTests.config(a, epochs: 3), four = FinetuneTests.config(b, epochs: 3)
        eight.data = try evenData(a); four.data = try evenData(b)
        eight.frozenBN = .eval; four.frozenBN = .eval
        four.batchSize = 4; four.accumulate = 2
        XCTAssertEqual(eight.batchSize, 8)
        for optimizer in [OptimizerConfig(kind: .adam, lr: 0.02), OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0.9)] {
            eight.optimizer = optimizer; four.optimizer = optimizer
            let big = try job(eight), small = try job(four)
            XCTAssertEqual(big.trainer.data.train.count, 24)
            var bigSteps = 0, smallSteps = 0
            big.trainer.onStep = { _, _ in bigSteps += 1 }
            small.trainer.onStep = { _, _ in smallSteps += 1 }
            try big.run(); try small.run()
            XCTAssertEqual(bigSteps, 9); XCTAssertEqual(smallSteps, 9, "ceil(6 batches / 2) steps an epoch")
            XCTAssertEqual(small.trainer.stepsPerEpoch, 3)
            let want = try ResumeState.read(for: eight).modelState, got = try ResumeState.read(for: four).modelState
            for key in ["fc.weight", "fc.bias"] {
                let x = try XCTUnwrap(got[key]).floats(), y = try XCTUnwrap(want[key]).floats()
                let scale = y.map(abs).max()!
                XCTAssertEqual(x.count, y.count)
                for (u, v) in zip(x, y) { XCTAssertEqual(u, v, accuracy: 1e-5 * scale, "\(optimizer.kind) \(key)") }
            }
        }
    }

    /// 30 images in batches of 4, accumulated by 2: 8 batches, 4 steps an epoch (the last group
    /// 4 + 2 images), each at the schedule's rate for that step.
    func testTheScheduleCountsOptimizerSteps() throws {
        let dir = try FinetuneTests.workdir("acc-sched")
        var c = FinetuneTests.config(dir, epochs: 3)
        c.batchSize = 4; c.accumulate = 2; c.schedule = .cosine; c.warmupEpochs = 1
        let report = dir + "/report.html"
        let j = try job(c, report: ReportWriter(path: report, commandLine: ["finetune"]))
        var rates: [Double] = []
        j.trainer.onStep = { _, _ in rates.append(j.trainer.optimizer.lr) }
        try j.run()
        XCTAssertEqual(j.trainer.stepsPerEpoch, 4)
        var s = LRScheduler(c, stepsPerEpoch: 4)
        var expected: [Double] = []
        for epoch in 0..<3 { for b in 0..<4 { expected.append(s.lr(epoch: epoch, batch: b)) }; s.endEpoch(epoch, valLoss: 0) }
        XCTAssertEqual(rates, expected)
        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
        XCTAssertEqual((metrics["config"] as? [String: Any])?["accumulate"] as? Int, 2)
        XCTAssertTrue(try String(contentsOfFile: report, encoding: .utf8).contains("--accumulate 2 (a step every 2 batches: 8 images)"))
    }

    /// The group's sum lives only within an epoch: a run interrupted after epoch 1 resumes to
    /// the same weights, on the augmented (image) path as on the cached-features one.
    func testResumeContinuesExactly() throws {
        for augment in [true, false] {
            let a = try FinetuneTests.workdir("acc-ra\(augment)"), b = try FinetuneTests.workdir("acc-rb\(augment)")
            var ca = FinetuneTests.config(a, epochs: 3, augment: augment), cb = FinetuneTests.config(b, epochs: 3, augment: augment)
            ca.batchSize = 4; cb.batchSize = 4; ca.accumulate = 3; cb.accumulate = 3
            let straight = try job(ca)
            try straight.run()
            let first = try job(cb)
            try first.run(until: 1)
            first.releaseFolders()
            let resumed = try job(cb, resume: true)
            try resumed.run()
            XCTAssertEqual(resumed.trainer.history.map(\.trainLoss), straight.trainer.history.map(\.trainLoss), "augment \(augment)")
            XCTAssertEqual(try ResumeState.read(for: ca).modelState, try ResumeState.read(for: cb).modelState, "augment \(augment)")
            var other = cb
            other.accumulate = 1
            XCTAssertThrowsError(try job(other, resume: true)) {
                XCTAssertTrue("\($0)".contains("--accumulate: the run was started with 3, this command gives 1"), "\($0)")
            }
        }
    }

    /// A resume point written before --accumulate existed (no such key) is the run it was: a
    /// step every batch.
    func testAnOlderResumePointStepsEveryBatch() throws {
        let c = FinetuneTests.config(try FinetuneTests.workdir("acc-old"), epochs: 2)
        let first = try job(c)
        try first.run(until: 1)
        first.releaseFolders()
        let json = ResumeState.paths(for: c).json
        var object = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        var saved = try XCTUnwrap(object["config"] as? [String: Any])
        XCTAssertNotNil(saved["accumulate"])
        saved["accumulate"] = nil
        object["config"] = saved
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: json))
        XCTAssertNil(try ResumeState.read(for: c).config.accumulate)
        let resumed = try job(c, resume: true)
        try resumed.run()
        XCTAssertEqual(resumed.trainer.history.count, 2)
    }
}
