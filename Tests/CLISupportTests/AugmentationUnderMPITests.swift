import Checkpoint
import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2 finetune --auto-augment ... --color-jitter ... --rotation ... --random-erase ...`:
/// a sample's draws depend only on (seed, epoch, sample), never on the process that loads it, so
/// two processes at batch b train what one process trains at 2b (frozen trunk), and the
/// augmentation is recorded in metrics.json.
final class AugmentationUnderMPITests: XCTestCase {
    func fcWeight(_ dir: URL) throws -> [Float] {
        let sd = try Checkpoint(contentsOf: dir.appendingPathComponent("resNet18.resume.pth").path).stateDict
        return try XCTUnwrap(sd["model/fc.weight"]).floats()
    }

    func testTwoProcessesTrainTheOneProcessRun() throws {
        let common = ["--classes", "3", "--image-size", "32", "--resize", "36", "--seed", "5", "--epochs", "2", "--workers", "1",
                      "--train", "fc", "--optimizer", "sgd", "--lr", "0.05",
                      "--auto-augment", "ra", "--ra-magnitude", "12", "--color-jitter", "0.3,0.3", "--rotation", "10",
                      "--random-erase", "0.5"]
        let one = try scratchFolder("aug", "one"), two = try scratchFolder("aug", "two"), plain = try scratchFolder("aug", "plain")
        try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
        try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        let a = try fcWeight(one), b = try fcWeight(two)
        XCTAssertLessThanOrEqual(relativeError(b, a), 1e-5)
        let json = try ExactJSON.object(with: Data(contentsOf: two.appendingPathComponent("metrics.json"))) as? [String: Any]
        let saved = (json?["config"] as? [String: Any])?["augmentation"] as? [String: Any]
        XCTAssertEqual(saved?["auto_augment"] as? String, "ra")
        XCTAssertEqual(saved?["ra_magnitude"] as? Int, 12)
        // Without the augmentations the run differs: the comparison above sees them.
        try finetuneOnTrainset(0, Array(common.prefix(14)) + ["--batch-size", "8"], in: plain)
        XCTAssertGreaterThan(relativeError(try fcWeight(plain), a), 1e-4)
    }
}
