import Checkpoint
import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2 finetune --sampler balanced`: every rank draws the same global sequence from the
/// shared seed and takes its DistributedSampler share, so two processes at batch b take the
/// steps one process takes at 2b (frozen trunk, unweighted loss), as with the shuffle.
final class BalancedSamplerUnderMPITests: XCTestCase {
    func fcWeight(_ dir: URL) throws -> [Float] {
        let sd = try Checkpoint(contentsOf: dir.appendingPathComponent("resNet18.resume.pth").path).stateDict
        return try XCTUnwrap(sd["model/fc.weight"]).floats()
    }

    func trainLosses(_ dir: URL) throws -> [Double] {
        let json = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any]
        return (json?["epochs"] as? [[String: Any]] ?? []).compactMap { $0["train_loss"] as? Double }
    }

    func testTwoProcessesDrawTheOneProcessSequence() throws {
        let common = ["--classes", "3", "--image-size", "40", "--resize", "40", "--seed", "5", "--epochs", "2", "--workers", "1",
                      "--train", "fc", "--no-augment", "--optimizer", "sgd", "--lr", "0.05", "--sampler", "balanced"]
        let one = try scratchFolder("bal", "one"), two = try scratchFolder("bal", "two"), shuffled = try scratchFolder("bal", "shuffled")
        try finetuneOnTrainset(0, common + ["--batch-size", "8"], in: one)
        try finetuneOnTrainset(2, common + ["--batch-size", "4"], in: two)
        let a = try fcWeight(one), b = try fcWeight(two)
        XCTAssertLessThanOrEqual(relativeError(b, a), 1e-5)
        let la = try trainLosses(one), lb = try trainLosses(two)
        XCTAssertEqual(la.count, 2)
        for (u, v) in zip(la, lb) { XCTAssertEqual(u, v, accuracy: 1e-5 * max(abs(u), 1e-3)) }
        // The shuffle takes other steps: the comparison above sees the sampler.
        try finetuneOnTrainset(0, common.dropLast(2) + ["--batch-size", "8"], in: shuffled)
        XCTAssertGreaterThan(relativeError(try fcWeight(shuffled), a), 1e-4)
    }
}
