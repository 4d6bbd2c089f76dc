import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// The second family on the graph: torchvision's VGGs (tiny widths, the real layer counts)
/// against real PyTorch (Fixtures/vgg, gen_vgg.py), and their architecture read from keys.
final class VGGInferenceTests: XCTestCase {
    static let root = FixturePaths.url("vgg")
    static let models = ["tiny_vgg11", "tiny_vgg11_bn", "tiny_vgg13", "tiny_vgg13_bn",
                         "tiny_vgg16", "tiny_vgg16_bn", "tiny_vgg19", "tiny_vgg19_bn"]

    struct Meta: Decodable {
        struct Case: Decodable { let batch: Int; let height: Int; let width: Int; let input: String; let bf16_max_abs_diff: Double }
        let variant: String
        let classes: Int
        let cases: [String: Case]
    }

    func load(_ name: String) throws -> (Meta, StateDict) {
        let dir = Self.root.appendingPathComponent("models/\(name)")
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        let sd = try ModelFixture.stateDict(in: dir)
        return (meta, sd)
    }

    /// f32 and bf16 logits and probabilities against PyTorch at a 1x1 last map (the adaptive pool
    /// replicates it to 7x7) and a 2x1 one (`FamilyEvalFixture`).
    func testEveryVariantMatchesPyTorch() throws { try FamilyEvalFixture("vgg").everyModelMatchesPyTorch(Self.models) }

    /// torchvision's real VGG keys and shapes (all eight variants): detected by name, and the
    /// graph's keys are torchvision's state_dict exactly (order and shapes).
    func testTorchvisionKeysAreDetected() throws {
        let url = Self.root.appendingPathComponent("torchvision_keys.json")
        let raw = try ExactJSON.object(with: Data(contentsOf: url)) as! [String: [[Any]]]
        XCTAssertEqual(Set(raw.keys), Set(VGGFamily().variantNames))
        for (name, rows) in raw {
            let shapes = rows.map { ($0[0] as! String, ($0[1] as! [NSNumber]).map(\.intValue)) }
            let arch = try Architecture.detect(shapes)
            XCTAssertEqual(arch.name, name)
            XCTAssertEqual(arch.numClasses, 1000)
            XCTAssertEqual(arch.fileName, name + ".pth")
            XCTAssertEqual(arch.tensors.map(\.key), shapes.map(\.0), name)
            XCTAssertEqual(arch.tensors.map(\.shape), shapes.map(\.1), name)
            XCTAssertEqual(Families.architecture(variant: name)?.tensors.map(\.key), shapes.map(\.0), name)
            XCTAssertEqual(ArchitectureGuess(keys: shapes.map(\.0), shapes: { k in shapes.first { $0.0 == k }?.1 }).name, name)
        }
    }

    /// A VGG with a key missing or a shape wrong is refused as a VGG, naming the keys.
    func testBrokenVGGIsRefusedAsAVGG() throws {
        var (_, sd) = try load("tiny_vgg16_bn")
        sd["classifier.3.bias"] = nil
        sd["features.1.running_var"] = TensorData(shape: [5], floats: [Float](repeating: 1, count: 5))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "VGG")
            XCTAssertEqual(missing, ["classifier.3.bias"])
            XCTAssertEqual(wrong.map(\.key), ["features.1.running_var"])
            XCTAssertTrue("\(error)".contains("not a torchvision VGG"), "\(error)")
        }
    }

    /// Hostile: keys of both families in one state dict (a ResNet with a VGG's features and
    /// classifier beside it) are not mixed into either model: refused, the foreign keys named.
    func testAStateDictWithBothFamiliesIsRefused() throws {
        var (_, sd) = try load("tiny_vgg11")
        let resnet = try ModelFixture.load("basic_w8").stateDict
        for (k, t) in resnet.items { sd[k] = t }
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, _, unexpected, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "ResNet")
            XCTAssertTrue(unexpected.contains("features.0.weight") && unexpected.contains("classifier.6.bias"), "\(unexpected)")
        }
        // Through the checkpoint reader's prefix search too: a ResNet under `backbone.` beside a VGG.
        var wrapped = StateDict()
        for (k, t) in resnet.items { wrapped["backbone." + k] = t }
        for (k, t) in try load("tiny_vgg11").1.items { wrapped["head." + k] = t }
        let path = Scratch.root.appendingPathComponent("graft-both-\(getpid()).pth").path
        try wrapped.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ckpt = try Checkpoint(contentsOf: path, options: .torchvisionModel())
        XCTAssertThrowsError(try ckpt.modelStateDict(), "keys outside the model are refused, not dropped")
    }
}
