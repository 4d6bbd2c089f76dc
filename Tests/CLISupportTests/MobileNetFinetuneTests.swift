import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// MobileNet through the commands: predict on image files gives torchvision's probabilities
/// (Fixtures/mobilenet/predict, real PyTorch through Resize 256 / CenterCrop 224); finetune
/// from a torch.save file with each policy and head writes a file torchvision's constructor
/// loads strictly (exactly its keys, named as the variant), which predict and evaluate read.
final class MobileNetFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("mobilenet/predict/tiny_mobilenet_v3_small.pth")

    func testPredictMatchesTorchvisionOnImageFiles() throws {
        XCTAssertGreaterThanOrEqual(try FamilyCommandChecks.predictMatchesTorchvision("mobilenet", "tiny_mobilenet_v3_small", transforms: [("256_224", nil)]), 6)
    }

    func run(_ args: [String], in dir: URL) throws -> String { try FamilyCommandChecks.finetune(weights, args, in: dir) }

    func testEveryPolicyAndHeadWritesATorchvisionMobileNet() throws {
        let initial = try Checkpoint(contentsOf: weights).stateDict
        for (policy, head) in [("fc", "replace"), ("last", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("mobilenet", "\(policy)-\(head)")
            let out = try run(["--train", policy, "--head", head], in: dir)
            let file = dir.appendingPathComponent("mobilenet_v3_small.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "mobilenet_v3_small")
            XCTAssertEqual(arch.numClasses, 3)
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head): torchvision's keys, in state_dict() order")
            XCTAssertEqual(sd.keys.contains("classifier.3.1.weight"), head == "append")
            // What the policy froze is what the file had, bit for bit: `last` trains the classifier (its own stage).
            let weightsOnly = sd.keys.filter { !$0.contains("running") && !$0.hasSuffix("num_batches_tracked") }
            let frozen = policy == "fc" ? weightsOnly.filter { !$0.hasPrefix("classifier.3") }
                : policy == "last" ? weightsOnly.filter { $0.hasPrefix("features.") } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            if policy == "last" { XCTAssertNotEqual(sd["classifier.0.weight"], initial["classifier.0.weight"]) }
            if policy == "all" { XCTAssertNotEqual(sd["features.0.0.weight"], initial["features.0.0.weight"]) }

            try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir)
        }
    }

    /// --last-stages counts the stages the family declares (v3 small: 4 of features, and the classifier).
    func testLastStagesBeyondTheModelIsRefused() throws {
        let dir = try scratchFolder("mobilenet", "stages")
        try FamilyCommandChecks.lastStagesRefused(weights, 6, in: dir, message: "--last-stages 6: mobilenet_v3_small has 5 stages; give 1 to 5")
    }
}
