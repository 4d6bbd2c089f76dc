import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// ConvNeXt through the commands: predict on image files gives torchvision's probabilities
/// (Fixtures/convnext/predict, real PyTorch through Resize 236 / CenterCrop 224); finetune with
/// each policy and head writes a file torchvision's ConvNeXt loads strictly (exactly its keys,
/// `layer_scale` before each block's modules), which predict and evaluate read.
final class ConvNeXtFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("convnext/predict/tiny_convnext_tiny.pth")

    func testPredictMatchesTorchvisionOnImageFiles() throws {
        XCTAssertGreaterThanOrEqual(try FamilyCommandChecks.predictMatchesTorchvision("convnext", "tiny_convnext_tiny", transforms: [("236_224", nil)]), 6)
    }

    func testEveryPolicyAndHeadWritesATorchvisionConvNeXt() throws {
        let initial = try Checkpoint(contentsOf: weights).stateDict
        for (policy, head) in [("fc", "replace"), ("last", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("convnext", "\(policy)-\(head)")
            let out = try FamilyCommandChecks.finetune(weights, ["--train", policy, "--head", head], in: dir)
            let file = dir.appendingPathComponent("convnext.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "convnext(custom)")
            XCTAssertEqual(arch.numClasses, 3)
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head): torchvision's keys, in state_dict() order")
            XCTAssertEqual(sd.keys.contains("classifier.2.1.weight"), head == "append")
            let lastStage = ["features.6.", "features.7.", "classifier."]
            let frozen = policy == "fc" ? sd.keys.filter { !$0.hasPrefix("classifier.2.") }
                : policy == "last" ? sd.keys.filter { k in !lastStage.contains { k.hasPrefix($0) } } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            if policy == "last" { XCTAssertNotEqual(sd["features.7.0.layer_scale"], initial["features.7.0.layer_scale"]) }
            if policy == "all" { XCTAssertNotEqual(sd["features.0.0.weight"], initial["features.0.0.weight"]) }
            try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir)
        }
    }
}
