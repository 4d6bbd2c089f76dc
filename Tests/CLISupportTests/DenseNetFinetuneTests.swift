import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// DenseNet through the commands: predict on image files gives torchvision's probabilities
/// (Fixtures/densenet/predict, real PyTorch through Resize 256 / CenterCrop 224), from the new
/// key spelling and the old one; finetune from a torch.save file with each policy and head
/// writes a file torchvision's DenseNet loads strictly (exactly its keys), which predict and
/// evaluate read.
final class DenseNetFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("densenet/predict/tiny_densenet121.pth")

    func testPredictMatchesTorchvisionOnImageFiles() throws {
        XCTAssertGreaterThanOrEqual(try FamilyCommandChecks.predictMatchesTorchvision("densenet", "tiny_densenet121", transforms: [("256_224", nil)]), 6)
    }

    func run(_ args: [String], in dir: URL) throws -> String { try FamilyCommandChecks.finetune(weights, args, in: dir) }

    func testEveryPolicyAndHeadWritesATorchvisionDenseNet() throws {
        let initial = try Checkpoint(contentsOf: weights).stateDict
        for (policy, head) in [("fc", "replace"), ("last", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("densenet", "\(policy)-\(head)")
            let out = try run(["--train", policy, "--head", head], in: dir)
            let file = dir.appendingPathComponent("densenet.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "densenet(custom)")
            XCTAssertEqual(arch.numClasses, 3)
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head): torchvision's keys, in state_dict() order")
            XCTAssertEqual(sd.keys.contains("classifier.1.weight"), head == "append")
            // What the policy froze is what the file had, bit for bit: `last` trains transition3,
            // denseblock4, norm5 and the head.
            let weightsOnly = sd.keys.filter { !$0.contains("running") && !$0.hasSuffix("num_batches_tracked") }
            let lastStage = ["features.transition3.", "features.denseblock4.", "features.norm5.", "classifier."]
            let frozen = policy == "fc" ? weightsOnly.filter { !$0.hasPrefix("classifier.") }
                : policy == "last" ? weightsOnly.filter { k in !lastStage.contains { k.hasPrefix($0) } } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            let last = "features.transition3.conv.weight"
            if policy == "last" { XCTAssertNotEqual(sd[last], initial[last]) }
            if policy == "all" { XCTAssertNotEqual(sd["features.conv0.weight"], initial["features.conv0.weight"]) }

            try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir)
        }
    }

    /// --last-stages counts the stages the family declares (one per dense block).
    func testLastStagesBeyondTheModelIsRefused() throws {
        let dir = try scratchFolder("densenet", "stages")
        try FamilyCommandChecks.lastStagesRefused(weights, 5, in: dir, message: "--last-stages 5: densenet(custom) has 4 stages; give 1 to 4")
    }
}
