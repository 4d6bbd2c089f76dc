import Foundation
import TestSupport
import XCTest
@testable import Training

/// finetune on an imbalanced copy of Fixtures/trainset (daisy 10, roses 3, tulips 10 training
/// images): the data summary warns; `--class-weights balanced --sampler balanced` train, are
/// recorded in metrics.json and report.html, and run the same twice with the same seed.
final class ImbalancedFinetuneTests: XCTestCase {
    func imbalancedData(_ dir: String) throws -> String {
        let fm = FileManager.default
        let src = FixturePaths.path("trainset")
        let data = dir + "/data"
        for split in ["train", "val"] {
            for cls in ["daisy", "roses", "tulips"] {
                let to = "\(data)/\(split)/\(cls)"
                try fm.createDirectory(atPath: to, withIntermediateDirectories: true)
                var names = try fm.contentsOfDirectory(atPath: "\(src)/\(split)/\(cls)").filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
                names.removeAll { $0.contains("corrupt") }
                if split == "train" && cls == "roses" { names = Array(names.prefix(3)) }
                for n in names { try fm.copyItem(atPath: "\(src)/\(split)/\(cls)/\(n)", toPath: "\(to)/\(n)") }
            }
        }
        return data
    }

    func testBalancedOptionsTrainAndAreRecorded() throws {
        let dir = try FinetuneTests.workdir("imbalanced")
        var c = FinetuneTests.config(dir, epochs: 2)
        c.data = try imbalancedData(dir)
        c.classWeights = .balanced
        c.sampler = .balanced
        var warnings: [String] = []
        let report = dir + "/report.html"
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, report: ReportWriter(path: report, commandLine: ["finetune"]),
                                          log: { _ in }, warn: { warnings.append($0) })
        XCTAssertTrue(warnings.contains { $0.contains("'daisy' has 10 images, 'roses' 3") && $0.contains("--class-weights balanced")
                && $0.contains("--sampler balanced") }, "\(warnings)")
        let weights: [Float] = [Float(23.0 / 30), Float(23.0 / 9), Float(23.0 / 30)]   // n / (3 x count)
        XCTAssertEqual(job.trainer.lossWeights, weights)
        try job.run()
        XCTAssertEqual(job.trainer.history.count, 2)
        XCTAssertTrue(job.trainer.history.allSatisfy { $0.trainLoss.isFinite })
        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
        let config = try XCTUnwrap(metrics["config"] as? [String: Any])
        XCTAssertEqual(config["class_weights"] as? String, "balanced", "\(config.keys.sorted())")
        XCTAssertEqual(config["sampler"] as? String, "balanced")
        let html = try String(contentsOfFile: report, encoding: .utf8)
        XCTAssertTrue(html.contains("--class-weights balanced, --sampler balanced"))

        // The same seed: the same run (the draws and the weighted loss are deterministic).
        let dir2 = try FinetuneTests.workdir("imbalanced2")
        var c2 = c
        c2.output = dir2 + "/resNet18.pth"; c2.classIndices = dir2 + "/class_indices.json"; c2.metrics = dir2 + "/metrics.json"
        let again = try FinetuneJob.prepare(c2, output: c2.output, resume: false, log: { _ in }, warn: { _ in })
        try again.run()
        XCTAssertEqual(again.trainer.history.map(\.trainLoss), job.trainer.history.map(\.trainLoss))
        // Unweighted and shuffled: another run.
        var plain = c2
        plain.classWeights = .unweighted; plain.sampler = .random
        let other = try FinetuneJob.prepare(plain, output: plain.output, resume: false, log: { _ in }, warn: { _ in })
        try other.run()
        XCTAssertNotEqual(other.trainer.history.map(\.trainLoss), job.trainer.history.map(\.trainLoss))
    }

    /// An interrupted balanced run resumes exactly: the epochs after the resume draw and weigh
    /// as the uninterrupted run's (the draws depend on the seed and epoch alone).
    func testResumeContinuesExactly() throws {
        let a = try FinetuneTests.workdir("bal-a"), b = try FinetuneTests.workdir("bal-b")
        var ca = FinetuneTests.config(a, epochs: 3, augment: true), cb = FinetuneTests.config(b, epochs: 3, augment: true)
        ca.data = try imbalancedData(a); cb.data = try imbalancedData(b)
        ca.classWeights = .balanced; ca.sampler = .balanced
        cb.classWeights = .balanced; cb.sampler = .balanced
        let straight = try FinetuneJob.prepare(ca, output: ca.output, resume: false, log: { _ in }, warn: { _ in })
        try straight.run()
        let first = try FinetuneJob.prepare(cb, output: cb.output, resume: false, log: { _ in }, warn: { _ in })
        try first.run(until: 1)
        first.releaseFolders()
        let resumed = try FinetuneJob.prepare(cb, output: cb.output, resume: true, log: { _ in }, warn: { _ in })
        try resumed.run()
        XCTAssertEqual(resumed.trainer.history.map(\.trainLoss), straight.trainer.history.map(\.trainLoss))
        XCTAssertEqual(try ResumeState.read(for: ca).modelState, try ResumeState.read(for: cb).modelState)
        // Another sampler is a different run: named.
        var other = cb
        other.sampler = .random
        XCTAssertThrowsError(try FinetuneJob.prepare(other, output: other.output, resume: true, log: { _ in }, warn: { _ in })) {
            XCTAssertTrue("\($0)".contains("--sampler: the run was started with balanced, this command gives random"), "\($0)")
        }
    }

    /// A resume point written before --class-weights and --sampler existed (no such keys) is
    /// the unweighted, shuffled run it was.
    func testAnOlderResumePointContinuesUnweightedAndShuffled() throws {
        let dir = try FinetuneTests.workdir("bal-old")
        let c = FinetuneTests.config(dir, epochs: 2)
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })
        try job.run(until: 1)
        job.releaseFolders()
        let json = ResumeState.paths(for: c).json
        var state = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        var config = try XCTUnwrap(state["config"] as? [String: Any])
        XCTAssertEqual(config.removeValue(forKey: "classWeights") as? String, "none")
        XCTAssertEqual(config.removeValue(forKey: "sampler") as? String, "random")
        state["config"] = config
        try JSONSerialization.data(withJSONObject: state).write(to: URL(fileURLWithPath: json))
        XCTAssertNil(try ResumeState.read(for: c).config.sampler)
        let resumed = try FinetuneJob.prepare(c, output: c.output, resume: true, log: { _ in }, warn: { _ in })
        try resumed.run()
        XCTAssertEqual(resumed.trainer.history.count, 2)
    }
}
