import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// Inception V3 through the commands: predict on image files gives torchvision's probabilities
/// (Fixtures/inception/predict, real PyTorch through Resize 342 / CenterCrop 299, transform_input
/// on); finetune at 299 with both heads and `--train fc` and `all` writes a file torchvision's Inception3 loads
/// strictly (AuxLogits with its new fc included), which predict and evaluate read; a crop too
/// small for the auxiliary classifier is refused before anything runs.
final class InceptionFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("inception/predict/tiny_inception_v3.pth")

    func testPredictMatchesTorchvisionOnImageFiles() throws {
        XCTAssertGreaterThanOrEqual(try FamilyCommandChecks.predictMatchesTorchvision("inception", "tiny_inception_v3", transforms: [("342_299", nil)]), 6)
    }

    func testEveryPolicyAndHeadWritesATorchvisionInception() throws {
        let initial = try Checkpoint(contentsOf: weights).stateDict
        // At 299 in a debug build a run takes 5 to 25 s: `--train last`'s freezing is the
        // training-step fixtures' (TrainStepTests.testInceptionEveryCase), and predict and
        // evaluate read one of the files.
        for (policy, head) in [("fc", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("inception", "\(policy)-\(head)")
            let out = try FamilyCommandChecks.finetune(weights, ["--train", policy, "--head", head, "--image-size", "299", "--resize", "342",
                                                                 "--batch-size", "4"], in: dir)
            let file = dir.appendingPathComponent("inception.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            XCTAssertTrue(out.contains("inception(custom), --train \(policy)"), out)
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "inception(custom)")
            XCTAssertEqual(arch.numClasses, 3)
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head): torchvision's keys, in state_dict() order")
            XCTAssertEqual(sd.keys.contains("fc.1.weight"), head == "append")
            XCTAssertEqual(sd["AuxLogits.fc.weight"]?.shape, [3, 48], "the auxiliary classifier predicts the new classes")
            let heads = ["fc.", "AuxLogits.fc."]
            let frozen = policy == "fc" ? sd.keys.filter { k in !heads.contains { k.hasPrefix($0) } } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            if policy == "all" {
                XCTAssertNotEqual(sd["Conv2d_1a_3x3.conv.weight"], initial["Conv2d_1a_3x3.conv.weight"])
                XCTAssertNotEqual(sd["AuxLogits.conv1.conv.weight"], initial["AuxLogits.conv1.conv.weight"], "the auxiliary classifier trains")
            }
            if policy == "all" { try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir) }
        }
    }

    /// Training crops under 299 would fail inside the auxiliary classifier's 5x5 conv (in
    /// torchvision too): refused up front, with the sizes to give.
    func testACropTooSmallForTheAuxiliaryClassifierIsRefused() throws {
        let dir = try scratchFolder("inception", "small")
        let args = ["--weights", weights, "--classes", "3", "--image-size", "224", "--epochs", "1", FixturePaths.path("trainset")]
        let r = try ProcessRun.run(try ProcessRun.executable("finetune"), args, currentDirectory: dir)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("trains on crops of at least 299x299, not 224x224"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--image-size 299 --resize 342"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("inception.pth").path))
    }
}
