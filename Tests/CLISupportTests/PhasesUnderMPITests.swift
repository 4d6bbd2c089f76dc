import Checkpoint
import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2 finetune --head-epochs 1 --lr-slice`: the phase change happens on every rank at
/// once (the gradients averaged are then every layer's) and two processes at batch b train as
/// one process at 2b: the same losses and rates per epoch, and models that agree.
final class PhasesUnderMPITests: XCTestCase {
    func testTwoProcessesChangePhaseAsOne() throws {
        // Batch norm frozen in eval in the head phase, then trained: with per-process batch
        // statistics two processes differ from one, so --sync-bn makes them compute alike.
        // Two epochs, the phase change between them: over more steps float32 summation order can
        // flip a ReLU whose input is within rounding of zero, and the runs then part for good
        // (DataParallelFinetuneTests' all-syncbn variant says more).
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "2", "--workers", "1",
                      "--train", "last", "--last-stages", "4", "--head-epochs", "1", "--lr-slice", "0.001", "--optimizer", "sgd", "--lr", "0.01",
                      "--no-augment", "--sync-bn"]
        let one = try scratchFolder("phasempi", "one"), two = try scratchFolder("phasempi", "two")
        let outOne = try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
        let outTwo = try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        for out in [outOne, outTwo] { XCTAssertTrue(out.contains("the head-only phase (--head-epochs 1) is over"), out) }
        func epochs(_ dir: URL) throws -> [[String: Any]] {
            let m = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any])
            return m["epochs"] as? [[String: Any]] ?? []
        }
        let ea = try epochs(one), eb = try epochs(two)
        XCTAssertEqual(ea.count, 2)
        XCTAssertEqual(eb.count, 2)
        for (a, b) in zip(ea, eb) {
            XCTAssertEqual(a["lr"] as? Double, b["lr"] as? Double)
            let la = try XCTUnwrap(a["train_loss"] as? Double), lb = try XCTUnwrap(b["train_loss"] as? Double)
            XCTAssertEqual(la, lb, accuracy: 1e-4 * la)
        }
        let a = try Checkpoint(contentsOf: one.appendingPathComponent("resNet18.resume.pth").path).stateDict
        let b = try Checkpoint(contentsOf: two.appendingPathComponent("resNet18.resume.pth").path).stateDict
        for key in ["layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer4.0.conv2.weight", "fc.weight"] {
            XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(a["model/" + key]).floats(), try XCTUnwrap(b["model/" + key]).floats()), 1e-4, key)
        }
    }
}
