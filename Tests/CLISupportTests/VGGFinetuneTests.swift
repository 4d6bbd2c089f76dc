import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// The tutorials' homework with the second family: finetune a (tiny) VGG from a torch.save
/// file, each policy and head, then predict and evaluate with what it wrote. The file is
/// named as the variant (vgg11_bn.pth) and holds exactly torchvision's keys for it.
final class VGGFinetuneTests: XCTestCase {
    let weights = FixturePaths.path("vgg/predict/tiny_vgg11_bn.pth")

    func run(_ args: [String], in dir: URL) throws -> String {
        let all = ["--weights", weights, "--classes", "3", "--image-size", "32", "--resize", "36", "--epochs", "1",
                   "--batch-size", "8", "--seed", "3", "--workers", "1", "--conv", "direct"] + args + [FixturePaths.path("trainset")]
        let r = try ProcessRun.run(try ProcessRun.executable("finetune"), all, currentDirectory: dir)
        XCTAssertFalse(r.timedOut, r.stderr)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout + r.stderr
    }

    func testEveryPolicyAndHeadWritesATorchvisionVGG() throws {
        for (policy, head) in [("fc", "replace"), ("last", "replace"), ("all", "replace"), ("fc", "append")] {
            let dir = try scratchFolder("vgg", "\(policy)-\(head)")
            let out = try run(["--train", policy, "--head", head], in: dir)
            let file = dir.appendingPathComponent("vgg11_bn.pth")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "\(policy) \(head): \(out)")
            let sd = try Checkpoint(contentsOf: file.path).stateDict
            let arch = try Architecture.detect(sd)
            XCTAssertEqual(arch.name, "vgg11_bn")
            XCTAssertEqual(arch.numClasses, 3)
            // torchvision's keys for the variant with this head, in state_dict() order: what
            // load_state_dict(strict=True) of vgg11_bn(num_classes=3) (or the appended head) takes.
            XCTAssertEqual(sd.keys, arch.tensors.map(\.key), "\(policy) \(head)")
            XCTAssertEqual(sd.keys.contains("classifier.6.1.weight"), head == "append")
            let initial = try Checkpoint(contentsOf: weights).stateDict
            // What the policy froze is what the file had, bit for bit.
            let frozen: [String] = policy == "fc" ? sd.keys.filter { !$0.hasPrefix("classifier.6") && !$0.contains("running") && !$0.hasSuffix("num_batches_tracked") }
                : policy == "last" ? sd.keys.filter { $0.hasPrefix("features.") && !$0.contains("running") && !$0.hasSuffix("num_batches_tracked") } : []
            for k in frozen { XCTAssertEqual(sd[k], initial[k], "\(policy): \(k) is frozen") }
            if policy == "all" { XCTAssertNotEqual(sd["features.0.weight"], initial["features.0.weight"]) }

            try FamilyCommandChecks.predictAndEvaluateReadIt(in: dir)
        }
    }

    /// --last-stages counts VGG's stages (5 conv stages and the classifier): 7 is refused.
    func testLastStagesBeyondTheModelIsRefused() throws {
        let dir = try scratchFolder("vgg", "stages")
        try FamilyCommandChecks.lastStagesRefused(weights, 7, in: dir, message: "--last-stages 7: vgg11_bn has 6 stages; give 1 to 6")
    }
}
