import Checkpoint
import Foundation
import TestSupport
import XCTest
@testable import Models

/// `ArchitectureGuess` and `WeightsReport` (inspect_weights) on checkpoints made by real
/// PyTorch: Fixtures/checkpoints and Fixtures/wrapped, with their manifests.
final class ArchitectureGuessTests: XCTestCase {
    static let checkpoints = FixturePaths.url("checkpoints")
    static let wrapped = FixturePaths.url("wrapped")

    static func manifest(_ folder: URL) throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        return try XCTUnwrap(ExactJSON.object(with: data) as? [String: [String: Any]])
    }

    static func load(_ folder: URL, _ name: String, _ entry: [String: Any]) throws -> Checkpoint {
        try Checkpoint(contentsOf: folder.appendingPathComponent(name).path,
                       options: .resNet(allowObjects: entry["allow_objects"] as? Bool ?? false))
    }

    /// The name and class count each good fixture's manifest gives.
    func testEveryGoodFixtureIsNamedAsTorchvisionNamesIt() throws {
        var checked = 0
        for (name, entry) in try Self.manifest(Self.checkpoints).sorted(by: { $0.key < $1.key }) where entry["error"] == nil {
            guard let ckpt = try? Self.load(Self.checkpoints, name, entry) else {
                XCTAssertEqual(entry["optional"] as? Bool, true, "\(name) does not load")  // dtypes Graft refuses by name
                continue
            }
            if let arch = entry["architecture"] as? String {
                XCTAssertEqual(ArchitectureGuess(ckpt.stateDict).name, arch, name)
            } else if entry.keys.contains("architecture") {
                XCTAssertNil(ArchitectureGuess(ckpt.stateDict).name, name)
            }
            if let classes = entry["num_classes"] as? Int {
                XCTAssertEqual(ArchitectureGuess(ckpt.stateDict).numClasses, classes, name)
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 10)
    }

    /// A ResNet under a user's wrapper module is named as torchvision's own.
    func testTheResNetUnderAWrapperIsNamed() throws {
        var checked = 0
        for (name, entry) in try Self.manifest(Self.wrapped).sorted(by: { $0.key < $1.key })
        where entry["error"] == nil || entry["error"] as? String == "no_fc" {
            let guess = ArchitectureGuess(try Self.load(Self.wrapped, name, entry).stateDict)
            let arch = entry["architecture"] as? String
            XCTAssertEqual(guess.name, arch == "resnet(custom)" ? nil : arch, name)
            XCTAssertEqual(guess.numClasses, entry["num_classes"] as? Int, "\(name): the class count is fc's; nil without fc")
            checked += 1
        }
        XCTAssertEqual(checked, 9)
    }

    /// Found in review (Fixtures/fuzz/checkpoint): a block index of Int.max is read, not trapped on.
    func testABlockIndexOfIntMaxNamesNothing() throws {
        let big = try Checkpoint(contentsOf: FixturePaths.path("fuzz/checkpoint/block_index_int_max.pth"))
        XCTAssertNil(ArchitectureGuess(big.stateDict).name)
    }

    /// inspect_weights: the prefix removed, a backbone named without fc, a refusal explained.
    func testReports() throws {
        let m = try Self.manifest(Self.wrapped)
        let ckpt = try Self.load(Self.wrapped, "backbone.pth", try XCTUnwrap(m["backbone.pth"]))
        let backbone = WeightsReport.text(ckpt, ArchitectureGuess(ckpt.stateDict))
        XCTAssertTrue(backbone.contains("architecture: resnet18 (BasicBlock, blocks [2, 2, 2, 2]), 5 classes\n"), backbone)
        XCTAssertTrue(backbone.contains("prefix:       removed 'backbone.' from every key\n"), backbone)
        let head = try Self.load(Self.wrapped, "backbone_head.pth", [:])
        let text = WeightsReport.text(head, ArchitectureGuess(head.stateDict))
        let headPath = Self.wrapped.appendingPathComponent("backbone_head.pth").path
        XCTAssertTrue(text.contains("refused:      predict and finetune refuse this file: \(headPath): the keys under 'backbone.'"), text)
        // The same in --json: removed_prefix and refused, null when there is nothing to say.
        let json = try ExactJSON.object(with: Data(WeightsReport.json(ckpt, ArchitectureGuess(ckpt.stateDict)).utf8)) as? [String: Any]
        XCTAssertEqual(json?["removed_prefix"] as? String, "backbone.")
        XCTAssertTrue(json?["refused"] is NSNull)
        let refused = try ExactJSON.object(with: Data(WeightsReport.json(head, ArchitectureGuess(head.stateDict)).utf8)) as? [String: Any]
        XCTAssertTrue(refused?["removed_prefix"] is NSNull)
        XCTAssertTrue((refused?["refused"] as? String)?.contains("head.weight, head.bias") == true, "\(String(describing: refused?["refused"]))")
        // A DenseNet at tiny widths: named as predict and finetune name it (the JSON's
        // architecture stays a torchvision constructor's name, null).
        let tiny = try Checkpoint(contentsOf: FixturePaths.path("densenet/predict/tiny_densenet121.pth"), options: .torchvisionModel())
        let tinyGuess = ArchitectureGuess(tiny.stateDict)
        XCTAssertNil(tinyGuess.name)
        XCTAssertEqual(tinyGuess.custom, "densenet(custom)")
        let tinyText = WeightsReport.text(tiny, tinyGuess)
        XCTAssertTrue(tinyText.contains("architecture: densenet(custom) (DenseNet at widths no torchvision variant has, convs per stage [12, 25, 49, 33]), 5 classes\n"), tinyText)
        // resnet18's trunk without fc: named, no class count.
        var keys = ["conv1.weight", "bn1.weight"]
        for s in 1...4 { for b in 0..<2 { keys.append("layer\(s).\(b).conv1.weight") } }
        let guess = ArchitectureGuess(keys: keys, shapes: { _ in nil })
        XCTAssertEqual(guess.name, "resnet18")
        XCTAssertNil(guess.numClasses)
    }
}

/// The reader finds torchvision's ResNet under a wrapper's prefix by `ModelKeys.torchvisionResNet`,
/// whose keys are the layout's own.
final class ResNetKeysTests: XCTestCase {
    func testTheReaderLooksForTheLayoutsKeys() {
        let keys = Families.architecture(variant: ResNetFamily.variants[0].name)!.tensors.map(\.key)
        let model = ModelKeys.torchvisionResNet
        XCTAssertTrue(model.required.allSatisfy(keys.contains), "\(model.required)")
        XCTAssertTrue(keys.contains(model.anchor))
        XCTAssertTrue(keys.allSatisfy { model.modules.contains(String($0.split(separator: ".")[0])) })
        XCTAssertEqual(model.required.count, 6)
        XCTAssertEqual(LoadOptions.resNet().model, model)
        XCTAssertNil(LoadOptions().model, "the reader knows no model unless told")
    }
}
