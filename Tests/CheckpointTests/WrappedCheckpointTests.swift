import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

/// A torchvision ResNet inside the user's own module (Fixtures/gen_wrapped.py, real torch):
/// the one prefix before its keys is found and removed; a ResNet among other keys, or two
/// ResNets, are named, never guessed.
final class WrappedCheckpointTests: XCTestCase {
    static let root = FixtureManifest.fixtures.appendingPathComponent("wrapped")

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    static func manifest() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: root.appendingPathComponent("expected.json"))
        return try XCTUnwrap(ExactJSON.object(with: data) as? [String: [String: Any]])
    }

    static func load(_ name: String, _ entry: [String: Any]) throws -> Checkpoint {
        try Checkpoint(contentsOf: path(name), options: LoadOptions(allowObjects: entry["allow_objects"] as? Bool ?? false, model: FixtureManifest.resNet))
    }

    /// SHA-256 of every tensor's bytes, concatenated in key order (the manifest's `sha256`).
    static func digest(_ sd: StateDict) -> String { sha256Hex(sd.items.flatMap(\.value.bytes)) }

    func testTheResNetUnderAWrapperIsReadAsTorchvisionsOwn() throws {
        var checked = 0
        for (name, entry) in try Self.manifest().sorted(by: { $0.key < $1.key }) where entry["error"] == nil || entry["error"] as? String == "no_fc" {
            let ckpt = try Self.load(name, entry)
            XCTAssertEqual(ckpt.stateDict.keys, entry["keys"] as? [String], "\(name): the ResNet's own keys, in order")
            XCTAssertEqual(Self.digest(ckpt.stateDict), entry["sha256"] as? String, "\(name): tensor values")
            XCTAssertEqual(ckpt.removedPrefix, entry["removed_prefix"] as? String ?? entry["prefix"] as? String, name)
            XCTAssertEqual(ckpt.containerKey, entry["container_key"] as? String, name)
            XCTAssertNil(ckpt.wrapperProblem, name)
            XCTAssertEqual(try ckpt.modelStateDict(), ckpt.stateDict, name)
            checked += 1
        }
        XCTAssertEqual(checked, 9)
    }

    func testWholePickledModelsNeedAllowObjects() throws {
        var checked = 0
        for (name, entry) in try Self.manifest() where entry["allow_objects"] as? Bool == true {
            XCTAssertThrowsError(try Checkpoint(contentsOf: Self.path(name))) { error in
                XCTAssertEqual((error as? CheckpointError)?.category, "unknown_global", "\(name): \(error)")
                XCTAssertTrue("\(error)".contains("--allow-objects"), "\(error)")
            }
            checked += 1
        }
        XCTAssertEqual(checked, 3)
    }

    func testKeysOutsideTheResNetAreListedNotDropped() throws {
        var checked = 0
        for (name, entry) in try Self.manifest().sorted(by: { $0.key < $1.key }) {
            let ckpt = try Self.load(name, entry)
            switch entry["error"] as? String {
            case "keys_outside_resnet":
                guard case let .keysOutsideModel(path, _, prefix, keys)? = ckpt.wrapperProblem else {
                    XCTFail("\(name): \(String(describing: ckpt.wrapperProblem))"); continue
                }
                XCTAssertEqual(path, Self.path(name))
                XCTAssertEqual(prefix, entry["prefix"] as? String, name)
                XCTAssertEqual(keys, entry["outside"] as? [String], name)
                XCTAssertNil(ckpt.removedPrefix, "\(name): nothing stripped")
                XCTAssertTrue(ckpt.stateDict.keys.contains("head.weight"), "\(name): the file's keys as they are")
                let message = "\(ckpt.wrapperProblem!)"
                for k in keys { XCTAssertTrue(message.contains(k), message) }
                XCTAssertTrue(message.contains("torch.save(model.backbone.state_dict()"), message)
            case "several_resnets":
                guard case let .severalModels(_, _, prefixes)? = ckpt.wrapperProblem else {
                    XCTFail("\(name): \(String(describing: ckpt.wrapperProblem))"); continue
                }
                XCTAssertEqual(prefixes, entry["prefixes"] as? [String], name)
            default:
                continue
            }
            XCTAssertThrowsError(try ckpt.modelStateDict()) { XCTAssertEqual($0 as? CheckpointError, ckpt.wrapperProblem) }
            checked += 1
        }
        XCTAssertEqual(checked, 3)
    }

    // MARK: the prefix search on key lists

    static func resnetKeys(fc: Bool = true) -> [String] {
        var keys = ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"]
        for s in 1...4 { keys += ["layer\(s).0.conv1.weight", "layer\(s).0.bn1.weight", "layer\(s).0.conv2.weight"] }
        return keys + (fc ? ["fc.weight", "fc.bias"] : [])
    }

    func testPrefixSearch() {
        let r = Self.resnetKeys()
        XCTAssertEqual(ModelPrefix(keys: r, model: FixtureManifest.resNet), .top)
        XCTAssertEqual(ModelPrefix(keys: r.map { "module.model." + $0 }, model: FixtureManifest.resNet), .found(prefix: "module.model."))
        XCTAssertEqual(ModelPrefix(keys: Self.resnetKeys(fc: false).map { "encoder." + $0 }, model: FixtureManifest.resNet), .found(prefix: "encoder."),
                       "a backbone without fc is still a ResNet")
        XCTAssertEqual(ModelPrefix(keys: r.map { "backbone." + $0 } + ["head.weight"], model: FixtureManifest.resNet),
                       .outside(prefix: "backbone.", keys: ["head.weight"]))
        XCTAssertEqual(ModelPrefix(keys: r.map { "backbone." + $0 } + ["backbone.extra.weight"], model: FixtureManifest.resNet),
                       .outside(prefix: "backbone.", keys: ["backbone.extra.weight"]), "keys under the prefix no ResNet module holds")
        XCTAssertEqual(ModelPrefix(keys: r.map { "a." + $0 } + r.map { "b." + $0 }, model: FixtureManifest.resNet), .several(prefixes: ["a.", "b."]))
        // layer1.0.conv1.weight ends in conv1.weight too; "layer1.0." leaves no ResNet.
        XCTAssertEqual(ModelPrefix(keys: r.filter { $0.hasPrefix("layer1.0.") }.map { "m." + $0 }, model: FixtureManifest.resNet), .none)
        // "xconv1.weight" makes no candidate "x" (a prefix ends at a dot).
        XCTAssertEqual(ModelPrefix(keys: r.map { "x" + $0 }, model: FixtureManifest.resNet), .none)
        XCTAssertEqual(ModelPrefix(keys: Array(r.dropFirst()).map { "net." + $0 }, model: FixtureManifest.resNet), .none, "no stem conv, no ResNet")
        XCTAssertEqual(ModelPrefix(keys: ["encoder.weight", "decoder.weight"], model: FixtureManifest.resNet), .none)
        XCTAssertEqual(ModelPrefix.pythonPath("module.models.0."), "model.module.models[0]")
    }
}
