import Engine
import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--clip-grad-norm` in a run (Fixtures/trainset, the fc head on a frozen trunk): every step
/// takes clipped gradients, the option is recorded, and a run interrupted at an epoch boundary
/// resumes to the uninterrupted run's weights.
final class ClippedFinetuneTests: XCTestCase {
    func job(_ c: TrainConfig, resume: Bool = false, report: ReportWriter? = nil) throws -> FinetuneJob {
        try FinetuneJob.prepare(c, output: c.output, resume: resume, report: report, log: { _ in }, warn: { _ in })
    }

    func testEveryStepIsClippedAndTheOptionIsRecorded() throws {
        let dir = try FinetuneTests.workdir("clip")
        var c = FinetuneTests.config(dir, epochs: 2)
        c.clipGradNorm = 0.05
        let report = dir + "/report.html"
        let j = try job(c, report: ReportWriter(path: report, commandLine: ["finetune"]))
        let t = j.trainer
        var norms: [Double] = []
        // After a step the gradients are still the ones it took: clipped to at most 0.05.
        t.onStep = { _, _ in norms.append(GradientClipping.totalNorm(t.model.parameters)) }
        try j.run()
        XCTAssertEqual(norms.count, 2 * t.stepsPerEpoch)
        XCTAssertTrue(norms.allSatisfy { $0 <= 0.05 * (1 + 1e-6) }, "\(norms)")
        XCTAssertTrue(norms.contains { $0 > 0.049 }, "the gradients were clipped, not small: \(norms)")
        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
        let config = try XCTUnwrap(metrics["config"] as? [String: Any])
        XCTAssertEqual(config["clip_grad_norm"] as? Double, 0.05, "\(config.keys.sorted())")
        XCTAssertTrue(try String(contentsOfFile: report, encoding: .utf8).contains("--clip-grad-norm 0.05"))

        // Without clipping the gradients are larger and the run differs.
        let dir2 = try FinetuneTests.workdir("noclip")
        let plain = try job(FinetuneTests.config(dir2, epochs: 2))
        var plainNorms: [Double] = []
        plain.trainer.onStep = { _, _ in plainNorms.append(GradientClipping.totalNorm(plain.trainer.model.parameters)) }
        try plain.run()
        XCTAssertGreaterThan(plainNorms.max()!, 0.1)
        XCTAssertNotEqual(plain.trainer.history.map(\.trainLoss), t.history.map(\.trainLoss))
    }

    /// Clipping keeps no state: a run interrupted after epoch 1 resumes to the same weights, on
    /// the augmented (image) path as on the cached-features one.
    func testResumeContinuesExactly() throws {
        for augment in [true, false] {
            let a = try FinetuneTests.workdir("clip-a\(augment)"), b = try FinetuneTests.workdir("clip-b\(augment)")
            var ca = FinetuneTests.config(a, epochs: 3, augment: augment), cb = FinetuneTests.config(b, epochs: 3, augment: augment)
            ca.clipGradNorm = 0.05; cb.clipGradNorm = 0.05
            let straight = try job(ca)
            try straight.run()
            let first = try job(cb)
            try first.run(until: 1)
            first.releaseFolders()
            let resumed = try job(cb, resume: true)
            try resumed.run()
            XCTAssertEqual(resumed.trainer.history.map(\.trainLoss), straight.trainer.history.map(\.trainLoss), "augment \(augment)")
            XCTAssertEqual(try ResumeState.read(for: ca).modelState, try ResumeState.read(for: cb).modelState, "augment \(augment)")
            // Another maximum, or none, is a different run: named.
            var other = cb
            other.clipGradNorm = nil
            XCTAssertThrowsError(try job(other, resume: true)) {
                XCTAssertTrue("\($0)".contains("--clip-grad-norm: the run was started with 0.05, this command gives none (no clipping)"), "\($0)")
            }
        }
    }
}
