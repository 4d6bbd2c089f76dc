import Checkpoint
import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2 finetune --ema-decay` and `--mixup-alpha/--cutmix-alpha`: the weight average of
/// two processes at batch b is one process's at 2b (frozen trunk: the averaged parameters are
/// the same on every rank, and rank 0's average is what is validated and saved); with mixed
/// batches (each rank mixing its own) the run is deterministic.
final class MixingAndAverageUnderMPITests: XCTestCase {
    func state(_ dir: URL) throws -> StateDict {
        try Checkpoint(contentsOf: dir.appendingPathComponent("resNet18.resume.pth").path).stateDict
    }

    func epochs(_ dir: URL) throws -> [[String: Any]] {
        let json = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any]
        return json?["epochs"] as? [[String: Any]] ?? []
    }

    func testTwoProcessesAverageAsOne() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "2", "--workers", "1",
                      "--train", "fc", "--no-augment", "--optimizer", "sgd", "--lr", "0.05", "--ema-decay", "0.9"]
        let one = try scratchFolder("emampi", "one"), two = try scratchFolder("emampi", "two")
        try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
        let out = try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        XCTAssertTrue(out.contains("ema val_loss"), out)
        let a = try state(one), b = try state(two)
        for key in ["ema/fc.weight", "ema/fc.bias"] {
            let x = try XCTUnwrap(b[key], key).floats(), y = try XCTUnwrap(a[key], key).floats()
            XCTAssertLessThanOrEqual(relativeError(x, y), 1e-5, key)
            XCTAssertNotEqual(y, try XCTUnwrap(a["model/" + key.dropFirst(4)]).floats(), "the average is not the model")
        }
        let ea = try epochs(one), eb = try epochs(two)
        XCTAssertEqual(ea.count, 2)
        XCTAssertEqual(ea.compactMap { $0["ema_val_accuracy"] as? Double }, eb.compactMap { $0["ema_val_accuracy"] as? Double })
        XCTAssertEqual(ea.compactMap { $0["ema_val_accuracy"] as? Double }.count, 2)
    }

    func testMixedBatchesUnderMPIAreDeterministic() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "2", "--workers", "1",
                      "--train", "fc", "--optimizer", "sgd", "--lr", "0.05", "--batch-size", "4",
                      "--mixup-alpha", "0.2", "--cutmix-alpha", "1.0", "--ema-decay", "0.9"]
        let a = try scratchFolder("mixmpi", "a"), b = try scratchFolder("mixmpi", "b"), c = try scratchFolder("mixmpi", "c")
        try finetuneOnTrainset(2, common, in: a)
        try finetuneOnTrainset(2, common, in: b)
        XCTAssertEqual(try state(a).items.filter { !$0.0.hasPrefix("resume/") }.map(\.1), try state(b).items.filter { !$0.0.hasPrefix("resume/") }.map(\.1))
        XCTAssertEqual(try epochs(a).compactMap { $0["train_loss"] as? Double }, try epochs(b).compactMap { $0["train_loss"] as? Double })
        // Without mixing the steps differ: the comparison above sees it.
        try finetuneOnTrainset(2, Array(common.dropLast(6)) + ["--ema-decay", "0.9"], in: c)
        XCTAssertNotEqual(try epochs(a).compactMap { $0["train_loss"] as? Double }, try epochs(c).compactMap { $0["train_loss"] as? Double })
    }
}
