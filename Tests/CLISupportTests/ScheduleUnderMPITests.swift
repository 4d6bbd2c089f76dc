import Checkpoint
import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2 finetune` with a per-step warmup, `--schedule plateau` and `--patience`: every
/// rank steps the same rates, and the plateau and the stop decide from the val figures all
/// ranks share, so two processes at batch b step, cut and stop as one process at 2b does.
final class ScheduleUnderMPITests: XCTestCase {
    func metrics(_ dir: URL) throws -> [String: Any] {
        try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any])
    }

    func testTwoProcessesStepCutAndStopAsOne() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "8", "--workers", "1",
                      "--train", "fc", "--no-augment", "--optimizer", "sgd", "--lr", "0.5", "--warmup-epochs", "0.5",
                      "--schedule", "plateau", "--plateau-patience", "0", "--patience", "3", "--monitor", "val_loss"]
        let one = try scratchFolder("schedmpi", "one"), two = try scratchFolder("schedmpi", "two")
        let outOne = try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
        let outTwo = try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        let a = try metrics(one), b = try metrics(two)
        let ea = a["epochs"] as? [[String: Any]] ?? [], eb = b["epochs"] as? [[String: Any]] ?? []
        XCTAssertEqual(ea.count, eb.count, "both stop after the same epoch")
        let la = ea.compactMap { $0["lr"] as? Double }, lb = eb.compactMap { $0["lr"] as? Double }
        XCTAssertEqual(la.count, ea.count)
        for (u, v) in zip(la, lb) { XCTAssertEqual(u, v, accuracy: 1e-12 * u) }
        XCTAssertLessThan(la.min() ?? 1, 0.5, "the plateau cut the rate: \(la)")
        let sa = a["early_stop"] as? [String: Any], sb = b["early_stop"] as? [String: Any]
        XCTAssertEqual(sa?["epoch"] as? Int, sb?["epoch"] as? Int)
        XCTAssertEqual(sa?["best_epoch"] as? Int, sb?["best_epoch"] as? Int)
        XCTAssertEqual(outOne.contains("Stopped early"), outTwo.contains("Stopped early"))
    }
}
