import ArgumentParser
import FinetuneCommands
import Foundation
import TestSupport
import Training
import XCTest

/// `finetune --find-lr`: its options, the combinations it refuses, and the command on
/// Fixtures/trainset (one process and under mpirun): the curve is written, no model.
final class FindLROptionTests: XCTestCase {
    func parse(_ extra: [String]) throws -> FinetuneCommandOptions {
        try FinetuneCommandOptions.parse(["--weights", "w.pth", "--classes", "3"] + extra + ["data"])
    }

    func refusal(_ extra: [String]) -> String {
        do { _ = try parse(extra); return "accepted" } catch { return FinetuneCommandOptions.message(for: error) }
    }

    func testSettingsAndDefaults() throws {
        let plain = try parse([])
        XCTAssertFalse(plain.findLR.findLR)
        XCTAssertEqual(try parse(["--find-lr"]).findLR.settings, LRRangeTest.Settings(start: 1e-7, end: 10, steps: 100))
        let o = try parse(["--find-lr", "--find-lr-start", "1e-6", "--find-lr-end", "1", "--find-lr-steps", "50"])
        XCTAssertEqual(o.findLR.settings, LRRangeTest.Settings(start: 1e-6, end: 1, steps: 50))
        // The training options still reach the config the test trains with.
        XCTAssertEqual(try parse(["--find-lr", "--optimizer", "sgd", "--train", "fc"]).config.optimizer.kind, .sgd)
    }

    func testRefusals() {
        XCTAssertTrue(refusal(["--find-lr", "--resume"]).contains("--find-lr and --resume contradict each other"), refusal(["--find-lr", "--resume"]))
        XCTAssertTrue(refusal(["--find-lr", "--output", "m.pth"]).contains("--find-lr saves no model"))
        XCTAssertTrue(refusal(["--find-lr", "--tensorboard", "tb"]).contains("leave out --tensorboard"))
        XCTAssertTrue(refusal(["--find-lr-steps", "50"]).contains("give --find-lr with it"))
        XCTAssertTrue(refusal(["--find-lr", "--find-lr-steps", "5"]).contains("at least 6"))
        XCTAssertTrue(refusal(["--find-lr", "--find-lr-start", "0"]).contains("--find-lr-start must be a positive rate"))
        XCTAssertTrue(refusal(["--find-lr", "--find-lr-start", "1e-310", "--find-lr-end", "10"]).contains("overflows"), "end / start is inf")
        XCTAssertTrue(refusal(["--find-lr", "--find-lr-start", "1", "--find-lr-end", "0.1"]).contains("must be a finite rate above --find-lr-start"))
        XCTAssertTrue(refusal(["--find-lr", "--find-lr-end", "inf"]).contains("must be a finite rate above"))
        XCTAssertEqual(refusal(["--find-lr", "--no-report"]), "accepted")
    }

    /// `finetune --find-lr` on Fixtures/trainset: lr_find.json and lr_find.html, the suggestion
    /// printed with its command, and no model, class_indices.json or metrics.json.
    func testTheCommandWritesTheCurveAndNoModel() throws {
        let dir = try scratchFolder("findlr", "one")
        let args = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--workers", "1", "--train", "fc",
                    "--batch-size", "8", "--find-lr", "--find-lr-start", "1e-4", "--find-lr-steps", "20"]
        let out = try finetuneOnTrainset(0, args, in: dir)
        XCTAssertTrue(out.contains("Suggested learning rate: "), out)
        XCTAssertTrue(out.contains("Train with it: finetune --weights "), out)
        XCTAssertTrue(out.contains(" --lr "), out)
        for name in ["lr_find.json", "lr_find.html"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), name)
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(left, ["lr_find.html", "lr_find.json"], "nothing else is written")
    }

    /// Under mpirun -np 2 at batch 4 the test steps as one process at batch 8 (the same global
    /// batches, gradients and losses averaged), and rank 0 alone writes.
    func testTwoProcessesStepAsOne() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--workers", "1", "--train", "fc",
                      "--no-augment", "--optimizer", "sgd", "--find-lr", "--find-lr-start", "1e-3", "--find-lr-steps", "12"]
        let one = try scratchFolder("findlrmpi", "one"), two = try scratchFolder("findlrmpi", "two")
        do {
            try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
            try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        } catch ProcessRunError.noMPIRun {
            throw XCTSkip("mpirun is not installed")
        }
        func curve(_ dir: URL) throws -> [String: Any] {
            try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("lr_find.json"))) as? [String: Any])
        }
        let a = try curve(one), b = try curve(two)
        XCTAssertEqual(a["processes"] as? Int, 1)
        XCTAssertEqual(b["processes"] as? Int, 2)
        XCTAssertEqual(a["lrs"] as? [Double], b["lrs"] as? [Double])
        let la = try XCTUnwrap(a["losses"] as? [Double]), lb = try XCTUnwrap(b["losses"] as? [Double])
        XCTAssertEqual(la.count, lb.count)
        XCTAssertGreaterThan(la.count, 6)
        // Summation order differs (two halves' means averaged): float32 rounding, compounded over the steps.
        for (u, v) in zip(la, lb) { XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(u)), "\(la) vs \(lb)") }
        let left = try FileManager.default.contentsOfDirectory(atPath: two.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertEqual(left, ["lr_find.html", "lr_find.json"])
    }
}
