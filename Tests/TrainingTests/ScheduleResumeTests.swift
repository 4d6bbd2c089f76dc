import Foundation
import TestSupport
import XCTest
@testable import Training

/// Schedules in a real run (Fixtures/trainset, the fc head on a frozen trunk): every step
/// takes the scheduler's rate, and a run interrupted and resumed takes the very rates (and
/// losses) of one that never stopped, plateau's state included.
final class ScheduleResumeTests: XCTestCase {
    /// Trains `c` (to `until`, or resuming) and returns the trainer and every step's rate.
    func train(_ c: TrainConfig, until: Int? = nil, resume: Bool = false) throws -> (Trainer, [Double]) {
        let job = try FinetuneJob.prepare(c, output: c.output, resume: resume, log: { _ in }, warn: { _ in })
        var rates: [Double] = []
        let trainer = job.trainer
        trainer.onStep = { _, _ in rates.append(trainer.optimizer.lr) }
        try job.run(until: until)
        return (trainer, rates)
    }

    func config(_ name: String, _ change: (inout TrainConfig) -> Void) throws -> TrainConfig {
        var c = FinetuneTests.config(try FinetuneTests.workdir("sched-" + name), epochs: 5)
        change(&c)
        return c
    }

    func testResumedRunsStepTheUninterruptedRates() throws {
        let setups: [(String, (inout TrainConfig) -> Void)] = [
            ("warmup-cosine", { $0.schedule = .cosine; $0.warmupEpochs = 1.5 }),
            ("onecycle", { $0.schedule = .onecycle }),
            ("warmup-plateau", { $0.schedule = .plateau; $0.plateauPatience = 0; $0.warmupEpochs = 0.5; $0.optimizer.lr = 0.5 }),
            ("step", { $0.schedule = .step; $0.stepSize = 2 }),
        ]
        for (name, setup) in setups {
            let straightConfig = try config(name + "-a", setup), splitConfig = try config(name + "-b", setup)
            let (straight, rates) = try train(straightConfig)
            let perEpoch = straight.stepsPerEpoch
            XCTAssertEqual(rates.count, 5 * perEpoch, name)
            // Each step's rate is the scheduler's for the run's shape and val losses.
            var s = LRScheduler(straightConfig, stepsPerEpoch: perEpoch)
            var expected: [Double] = []
            for epoch in 0..<5 {
                for b in 0..<perEpoch { expected.append(s.lr(epoch: epoch, batch: b)) }
                s.endEpoch(epoch, valLoss: straight.history[epoch].valLoss)
            }
            XCTAssertEqual(rates, expected, name)
            if name == "warmup-plateau" {
                XCTAssertLessThan(rates.last!, 0.5, "val loss stopped improving and the plateau cut the rate: \(straight.history.map(\.valLoss))")
            }
            XCTAssertEqual(straight.history.map(\.lr), (1...5).map { expected[$0 * perEpoch - 1] }, "\(name): an epoch's lr is its last step's")

            // Interrupted after each epoch in turn (the plateau's best loss and bad epochs matter
            // at some, not all).
            for stop in 1...4 {
                try? FileManager.default.removeItem(atPath: ResumeState.paths(for: splitConfig).json)
                let (_, first) = try train(splitConfig, until: stop)
                XCTAssertEqual(try ResumeState.read(for: splitConfig).schedule?.steps, stop * perEpoch, name)
                let (resumed, second) = try train(splitConfig, resume: true)
                XCTAssertEqual(first + second, rates, "\(name): the rates of a run resumed after epoch \(stop)")
                XCTAssertEqual(resumed.history.map(\.trainLoss), straight.history.map(\.trainLoss), name)
                XCTAssertEqual(resumed.schedule?.state, straight.schedule?.state, name)
            }
        }
    }

    /// A resume point written before schedules had state (no `schedule`, no warmup or plateau
    /// options in its config) still resumes: no warmup, the schedule laid out afresh.
    func testAResumePointFromBeforeSchedulesResumes() throws {
        let c = try config("old", { $0.epochs = 3 })
        _ = try train(c, until: 1)
        let json = ResumeState.paths(for: c).json
        var object = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        object["schedule"] = nil
        var saved = try XCTUnwrap(object["config"] as? [String: Any])
        saved["warmupEpochs"] = nil; saved["plateauPatience"] = nil
        object["config"] = saved
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: json))
        XCTAssertNil(try ResumeState.read(for: c).config.warmupEpochs)
        let (t, _) = try train(c, resume: true)
        XCTAssertEqual(t.history.count, 3)
    }
}
