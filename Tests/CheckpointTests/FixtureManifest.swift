import Foundation
import TestSupport
import XCTest
@testable import Checkpoint

/// `Fixtures/checkpoints/expected.json`, written by `Fixtures/gen_checkpoints.py` with real torch.
struct FixtureManifest {
    /// The model the wrapped fixtures hold, described as a loader describes it to the reader
    /// (the ResNet library's `ModelKeys.torchvisionResNet`; its own tests check that one).
    static let resNet = ModelKeys(
        name: "torchvision ResNet", noun: "ResNet", id: "resnet", anchor: "conv1.weight",
        required: ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.conv1.weight",
                   "layer3.0.conv1.weight", "layer4.0.conv1.weight"],
        modules: ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"])

    /// The repository's Fixtures/ folder.
    static let fixtures = FixturePaths.root
    static let root = fixtures.appendingPathComponent("checkpoints")

    /// A fixture of `folder` (a folder of Fixtures/ with an expected.json: checkpoints, cycles, typed_views).
    static func path(_ name: String, in folder: String = "checkpoints") -> String {
        fixtures.appendingPathComponent(folder).appendingPathComponent(name).path
    }

    static func load(_ folder: String = "checkpoints") throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(folder).appendingPathComponent("expected.json"))
        return try XCTUnwrap(ExactJSON.object(with: data) as? [String: [String: Any]])
    }
}

extension XCTestCase {
    /// `name` in a scratch folder of this process, named after the test class.
    func tempPath(_ name: String) -> String {
        let dir = Scratch.root.appendingPathComponent("graft-\(type(of: self))-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }
}
