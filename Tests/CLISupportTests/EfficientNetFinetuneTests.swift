import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// EfficientNet through the commands: predict on image files gives torchvision's probabilities
/// (Fixtures/efficientnet/predict, real PyTorch through Resize 256 / CenterCrop 224, bilinear and
/// bicubic as EfficientNet's weights declare); finetune from a torch.save file with each policy
/// and head writes a file torchvision's constructor loads strictly (exactly its keys, named as
/// the variant), which predict and evaluate read.
final class EfficientNetFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("efficientnet/predict/tiny_efficientnet_b0.pth")

    func testPredictMatchesTorchvisionOnImageFiles() throws {
        let compared = try FamilyCommandChecks.predictMatchesTorchvision("efficientnet", "tiny_efficientnet_b0",
                                                                         transforms: [("256_224", "bilinear"), ("256_224_bicubic", "bicubic")])
        XCTAssertGreaterThanOrEqual(compared, 12)
        // The two transforms' probabilities differ somewhere: a bicubic that resampled bilinear would fail above.
        let rows = try FamilyCommandChecks.expected("efficientnet", "tiny_efficientnet_b0")
        let a = try XCTUnwrap(rows["256_224"]), b = try XCTUnwrap(rows["256_224_bicubic"])
        XCTAssertTrue(a.keys.contains { maxAbsError(a[$0]!.probs, b[$0]?.probs ?? []) > 1e-4 })
    }

    func run(_ args: [String], in dir: URL) throws -> String { try FamilyCommandChecks.finetune(weights, args, in: dir) }

    func testEveryPolicyAndHeadWritesATorchvisionEfficientNet() throws {
        let initial = try Checkpoint(contentsOf: weights).stateDict
        for (policy, head) in [("fc", "replace"), ("last", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("efficientnet", "\(policy)-\(head)")
            let out = try run(["--train", policy, "--head", head], in: dir)
            let file = dir.appendingPathComponent("efficientnet_b0.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "efficientnet_b0")
            XCTAssertEqual(arch.numClasses, 3)
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head): torchvision's keys, in state_dict() order")
            XCTAssertEqual(sd.keys.contains("classifier.1.1.weight"), head == "append")
            // What the policy froze is what the file had, bit for bit: `last` trains features.7, features.8 and the head.
            let weightsOnly = sd.keys.filter { !$0.contains("running") && !$0.hasSuffix("num_batches_tracked") }
            let frozen = policy == "fc" ? weightsOnly.filter { !$0.hasPrefix("classifier.1") }
                : policy == "last" ? weightsOnly.filter { k in (0...6).contains { k.hasPrefix("features.\($0).") } } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            if policy == "last" { XCTAssertNotEqual(sd["features.8.0.weight"], initial["features.8.0.weight"]) }
            if policy == "all" { XCTAssertNotEqual(sd["features.0.0.weight"], initial["features.0.0.weight"]) }

            try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir)
        }
    }

    /// --last-stages counts the stages the family declares (b0: features.1 to features.7).
    func testLastStagesBeyondTheModelIsRefused() throws {
        let dir = try scratchFolder("efficientnet", "stages")
        try FamilyCommandChecks.lastStagesRefused(weights, 8, in: dir, message: "--last-stages 8: efficientnet_b0 has 7 stages; give 1 to 7")
    }
}
