import Checkpoint
import Foundation
import Inference
import Models
import TestSupport
@testable import Training
import XCTest

/// `--head-epochs`, `--lr-slice` and `--head keep` in whole finetune runs on Fixtures/trainset:
/// what trains in each phase, the schedule laid out again per phase, the report's mark, exact
/// resumes across the phase change; and `--head keep`'s checks.
final class PhaseFinetuneTests: XCTestCase {
    struct StepRecord: Equatable { let trainable: Int; let rate: Double; let layer1Rate: Double? }

    func run(_ c: TrainConfig, until: Int? = nil, resume: Bool = false, log: @escaping (String) -> Void = { _ in })
        throws -> (Trainer, [StepRecord]) {
        let job = try FinetuneJob.prepare(c, output: c.output, resume: resume,
                                          report: ReportWriter(path: OutputPath.folder(of: c.metrics) + "/report.html", commandLine: ["finetune"]),
                                          log: log, warn: { _ in })
        let t = job.trainer
        var steps: [StepRecord] = []
        let layer1 = t.model.parameters.first { $0.name == "layer1.0.conv1.weight" }!
        t.onStep = { _, _ in
            steps.append(StepRecord(trainable: t.model.parameters.filter(\.trainable).count, rate: t.optimizer.lr,
                                    layer1Rate: layer1.trainable ? t.optimizer.rate(layer1) : nil))
        }
        try job.run(until: until)
        return (t, steps)
    }

    func phased(_ name: String) throws -> TrainConfig {
        var c = FinetuneTests.config(try FinetuneTests.workdir("phase-" + name), epochs: 3)
        c.policy = .all
        c.headEpochs = 1
        c.lrSlice = 1e-4
        c.schedule = .cosine
        c.warmupEpochs = 0.5
        return c
    }

    func testTheHeadTrainsAloneThenEverythingAtSliceRatesAndResumesExactly() throws {
        let c = try phased("a")
        let initial = try Checkpoint(contentsOf: c.weights!).stateDict
        var lines: [String] = []
        let (straight, steps) = try run(c, log: { lines.append($0) })
        let per = straight.stepsPerEpoch
        XCTAssertEqual(steps.count, 3 * per)
        let total = straight.model.parameters.count
        // Epoch 1: fc alone (weight and bias); then every parameter, layer1 at --lr-slice's low rate.
        XCTAssertEqual(steps.prefix(per).map(\.trainable), Array(repeating: 2, count: per))
        XCTAssertEqual(steps.dropFirst(per).map(\.trainable), Array(repeating: total, count: 2 * per))
        for s in steps.dropFirst(per) { XCTAssertEqual(s.layer1Rate!, s.rate * 1e-4 / 0.02, accuracy: 1e-12 * s.rate) }
        // The schedule is laid out again over the second phase: its warmup starts again from lr/100.
        var phase1 = LRScheduler(schedule: .cosine, base: 0.02, epochs: 1, stepsPerEpoch: per, warmupEpochs: 0.5)
        var phase2 = LRScheduler(schedule: .cosine, base: 0.02, epochs: 2, stepsPerEpoch: per, warmupEpochs: 0.5)
        phase1.phaseStarts = [0]; phase2.phaseStarts = [0]
        let expected = (0..<per).map { phase1.lr(epoch: 0, batch: $0) }
            + (0..<2).flatMap { e in (0..<per).map { phase2.lr(epoch: e, batch: $0) } }
        XCTAssertEqual(steps.map(\.rate), expected)
        XCTAssertEqual(steps[per].rate, 0.02 * LRScheduler.warmupStartFactor, accuracy: 1e-15)
        XCTAssertTrue(lines.contains { $0.contains("epoch 2: the head-only phase (--head-epochs 1) is over") }, "\(lines)")

        // The metrics and the report say it; the report marks where the second phase starts.
        let metrics = try String(contentsOfFile: c.metrics, encoding: .utf8)
        XCTAssertTrue(metrics.contains("\"head_epochs\" : 1") || metrics.contains("\"headEpochs\" : 1"), metrics)
        let html = try String(contentsOfFile: OutputPath.folder(of: c.metrics) + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("class=\"phase\""))
        XCTAssertTrue(html.contains("the head alone for 1 epoch (--head-epochs), then --train all"))

        // Interrupted after the head phase, and after the first epoch of the second: the same run.
        for stop in 1...2 {
            let split = try phased("b\(stop)")
            let (first, a) = try run(split, until: stop)
            if stop == 1 {
                // The frozen trunk did not move in the first phase.
                let sd = first.model.stateDict()
                for (key, t) in initial.items where !key.hasPrefix("fc.") { XCTAssertEqual(sd[key], t, key) }
            }
            let (resumed, b) = try run(split, resume: true)
            XCTAssertEqual(a + b, steps, "stopped after epoch \(stop)")
            XCTAssertEqual(resumed.history.map(\.trainLoss), straight.history.map(\.trainLoss), "stopped after epoch \(stop)")
            XCTAssertEqual(resumed.model.stateDict(), straight.model.stateDict(), "stopped after epoch \(stop)")
        }
    }

    func testHeadEpochsWithCachedFeaturesThenTheWholeModel() throws {
        // --no-augment: the first phase trains the head on features computed once; the second
        // runs the whole model (the cache would be stale).
        var c = try phased("cache")
        c.augment = false
        c.lrSlice = nil
        c.schedule = .none
        c.warmupEpochs = 0
        var lines: [String] = []
        let (t, steps) = try run(c, log: { lines.append($0) })
        XCTAssertEqual(lines.filter { $0.contains("computing the frozen trunk's features once (--head-epochs --no-augment)") }.count, 1, "\(lines)")
        XCTAssertEqual(steps.last!.trainable, t.model.parameters.count)
        XCTAssertEqual(t.history.count, 3)
    }

    // MARK: --head keep

    /// A fine-tuned model and its class_indices.json in `dir` (a short run of the replace head).
    func fineTuned(_ name: String) throws -> TrainConfig {
        let c = FinetuneTests.config(try FinetuneTests.workdir("keep-" + name), epochs: 1)
        _ = try run(c)
        return c
    }

    func testKeepContinuesTheFileClassifier() throws {
        let first = try fineTuned("a")
        let before = try Checkpoint(contentsOf: first.output).stateDict
        var c = FinetuneTests.config(try FinetuneTests.workdir("keep-a2"), epochs: 1)
        c.weights = first.output
        c.head = .keep
        c.optimizer.lr = 1e-30   // nothing moves: the saved classifier is the file's, not a new one
        let (t, _) = try run(c)
        XCTAssertEqual(t.model.stateDict()["fc.weight"]?.floats(), before["fc.weight"]?.floats())
        XCTAssertEqual(t.history.first?.valAccuracy, try XCTUnwrap(t.history.first).valAccuracy)
        // A replaced head starts elsewhere.
        c.head = .replace
        c.output = OutputPath.folder(of: c.output) + "/replaced.pth"
        let (r, _) = try run(c)
        XCTAssertNotEqual(r.model.stateDict()["fc.weight"]?.floats(), before["fc.weight"]?.floats())
    }

    func testKeepRefusesWhatDoesNotMatch() throws {
        let first = try fineTuned("b")
        func refusal(_ change: (inout TrainConfig) throws -> Void) throws -> String {
            var c = FinetuneTests.config(try FinetuneTests.workdir("keep-b2"), epochs: 1)
            c.weights = first.output
            c.head = .keep
            try change(&c)
            var message = ""
            XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })) { message = "\($0)" }
            return message
        }
        // Another order of the same names.
        try ClassIndices(names: ["roses", "daisy", "tulips"]).write(to: first.classIndices)
        XCTAssertTrue(try refusal { _ in }.contains("output 0 is 'roses' there, 'daisy' in the data"))
        // No class_indices.json beside the weights.
        try FileManager.default.removeItem(atPath: first.classIndices)
        XCTAssertTrue(try refusal { _ in }.contains("there is no"))
        // Another class count: the 5-class fixture the runs start from.
        let ten = try refusal { $0.weights = FixturePaths.path("predict/basic.pth") }
        XCTAssertTrue(ten.contains("it has 5 classes, the data 3"), ten)
        // No weights.
        let none = try refusal { $0.weights = nil; $0.architecture = "resnet18"; $0.policy = .all }
        XCTAssertTrue(none.contains("--weights none has no classifier"), none)
        // The output would overwrite the weights.
        try ClassIndices(names: ["daisy", "roses", "tulips"]).write(to: first.classIndices)
        let same = try refusal { $0.output = first.output }
        XCTAssertTrue(same.contains("is both --weights and --output"), same)
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.output))
    }
}
