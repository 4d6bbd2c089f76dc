import Checkpoint
import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2 finetune --accumulate 2 --clip-grad-norm`: gradients are averaged once per
/// optimizer step, on each group's sum, then clipped the same on every rank, so two processes at
/// batch 4 train the weights one process at batch 8 trains (DistributedSampler deals every other
/// image to each rank: their batches k together are the one process's batch k).
final class GradientsUnderMPITests: XCTestCase {
    func testTwoProcessesAccumulateAndClipAsOne() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "2", "--workers", "1",
                      "--train", "fc", "--no-augment", "--optimizer", "sgd", "--lr", "0.2", "--accumulate", "2", "--clip-grad-norm", "0.3"]
        let one = try scratchFolder("gradmpi", "one"), two = try scratchFolder("gradmpi", "two")
        _ = try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
        let out = try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        // 15 images a rank: batches of 4, 4, 4, 3, two steps an epoch: one allreduce each.
        XCTAssertTrue(out.contains(", 4 steps:"), out)
        let a = try Checkpoint(contentsOf: one.appendingPathComponent("resNet18.resume.pth").path).stateDict
        let b = try Checkpoint(contentsOf: two.appendingPathComponent("resNet18.resume.pth").path).stateDict
        for key in ["fc.weight", "fc.bias"] {
            let x = try XCTUnwrap(b["model/" + key]).floats(), y = try XCTUnwrap(a["model/" + key]).floats()
            let scale = y.map(abs).max()!
            XCTAssertEqual(x.count, y.count)
            for (u, v) in zip(x, y) { XCTAssertEqual(u, v, accuracy: 1e-5 * scale, key) }
        }
    }
}
