import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// RegNet through the commands: predict on image files gives torchvision's probabilities
/// (Fixtures/regnet/predict, real PyTorch through Resize 256 / CenterCrop 224); finetune from a
/// torch.save file with each policy and head writes a file torchvision's RegNet loads strictly
/// (exactly its keys), which predict and evaluate read.
final class RegNetFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("regnet/predict/tiny_regnet_y_400mf.pth")

    func testPredictMatchesTorchvisionOnImageFiles() throws {
        XCTAssertGreaterThanOrEqual(try FamilyCommandChecks.predictMatchesTorchvision("regnet", "tiny_regnet_y_400mf", transforms: [("256_224", nil)]), 6)
    }

    func run(_ args: [String], in dir: URL) throws -> String { try FamilyCommandChecks.finetune(weights, args, in: dir) }

    func testEveryPolicyAndHeadWritesATorchvisionRegNet() throws {
        let initial = try Checkpoint(contentsOf: weights).stateDict
        for (policy, head) in [("fc", "replace"), ("last", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("regnet", "\(policy)-\(head)")
            let out = try run(["--train", policy, "--head", head], in: dir)
            let file = dir.appendingPathComponent("regnet.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "regnet_y(custom)")
            XCTAssertEqual(arch.numClasses, 3)
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head): torchvision's keys, in state_dict() order")
            XCTAssertEqual(sd.keys.contains("fc.1.weight"), head == "append")
            // What the policy froze is what the file had, bit for bit: `last` trains trunk_output.block4 and the head.
            let weightsOnly = sd.keys.filter { !$0.contains("running") && !$0.hasSuffix("num_batches_tracked") }
            let frozen = policy == "fc" ? weightsOnly.filter { !$0.hasPrefix("fc.") }
                : policy == "last" ? weightsOnly.filter { !$0.hasPrefix("trunk_output.block4.") && !$0.hasPrefix("fc.") } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            let last = "trunk_output.block4.block4-0.f.a.0.weight"
            if policy == "last" { XCTAssertNotEqual(sd[last], initial[last]) }
            if policy == "all" { XCTAssertNotEqual(sd["stem.0.weight"], initial["stem.0.weight"]) }

            try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir)
        }
    }

    /// --last-stages counts the stages the family declares (trunk_output.block1 to block4).
    func testLastStagesBeyondTheModelIsRefused() throws {
        let dir = try scratchFolder("regnet", "stages")
        try FamilyCommandChecks.lastStagesRefused(weights, 5, in: dir, message: "--last-stages 5: regnet_y(custom) has 4 stages; give 1 to 4")
    }
}
