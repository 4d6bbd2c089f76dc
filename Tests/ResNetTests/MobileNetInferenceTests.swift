import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// torchvision's MobileNets on the graph (tiny widths, the real block structure) against real
/// PyTorch (Fixtures/mobilenet, gen_mobilenet.py): depthwise convs, ReLU6, hardswish,
/// squeeze-and-excitation with hardsigmoid, batch norm eps 1e-3; and their architecture read
/// from keys.
final class MobileNetInferenceTests: XCTestCase {
    static let root = FixturePaths.url("mobilenet")
    static let models = ["tiny_mobilenet_v2", "tiny_mobilenet_v3_large", "tiny_mobilenet_v3_small"]

    let fixture = FamilyEvalFixture("mobilenet")

    func load(_ name: String) throws -> (FamilyEvalFixture.Meta, StateDict) { try fixture.load(name) }

    /// f32 and bf16 logits and probabilities against PyTorch at three input sizes (a 1x1 last
    /// map, 2x2, and 3x3 with odd maps on the way) (`FamilyEvalFixture`).
    func testEveryVariantMatchesPyTorch() throws { try fixture.everyModelMatchesPyTorch(Self.models) }

    /// The eval logits do not depend on the batch: each image alone gives its row of the batch.
    func testImagesAloneGiveTheirRowsOfTheBatch() throws {
        let (meta, sd) = try load("tiny_mobilenet_v3_small")
        let model = try InferenceModel(stateDict: sd)
        let k = try XCTUnwrap(meta.cases["96x80"])
        let x = try float32s(at: Self.root.appendingPathComponent("models/\(k.input)"))
        let batch = try model.logits(images: x, batch: k.batch, height: k.height, width: k.width)
        let per = 3 * k.height * k.width
        for i in 0..<k.batch {
            let alone = try model.logits(images: Array(x[(i * per)..<((i + 1) * per)]), batch: 1, height: k.height, width: k.width)
            XCTAssertLessThanOrEqual(relativeError(alone, Array(batch[(i * meta.classes)..<((i + 1) * meta.classes)])), 1e-5)
        }
    }

    /// torchvision's real MobileNet keys and shapes (width 1, 1000 classes): detected by name,
    /// the graph's keys torchvision's state_dict exactly (order and shapes).
    func testTorchvisionKeysAreDetected() throws {
        try fixture.torchvisionKeysAreDetected(variants: MobileNetV2Family().variantNames + MobileNetV3Family().variantNames) { name, guess, convs in
            // inspect_weights' "convs per stage": every conv but the stem's, in the feature stages.
            XCTAssertEqual(guess.blocks.reduce(0, +), convs - 1, name)
            XCTAssertEqual(guess.blocks.count, ["mobilenet_v2": 5, "mobilenet_v3_large": 5, "mobilenet_v3_small": 4][name], name)
        }
    }

    /// A MobileNet with a key missing or a shape wrong is refused as a MobileNet, naming the
    /// keys; one with a block too few is refused with torchvision's block counts.
    func testBrokenMobileNetIsRefused() throws {
        var (_, sd) = try load("tiny_mobilenet_v3_small")
        sd["features.2.block.1.1.running_var"] = nil
        sd["classifier.0.bias"] = TensorData(shape: [5], floats: [Float](repeating: 1, count: 5))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "MobileNetV3")
            XCTAssertEqual(missing, ["features.2.block.1.1.running_var"])
            XCTAssertEqual(wrong.map(\.key), ["classifier.0.bias"])
        }
        var (_, v2) = try load("tiny_mobilenet_v2")
        for k in v2.keys where k.hasPrefix("features.18.") { v2[k] = nil }
        XCTAssertThrowsError(try InferenceModel(stateDict: v2)) { error in
            XCTAssertTrue("\(error)".contains("16 inverted-residual blocks") && "\(error)".contains("mobilenet_v2 has 17"), "\(error)")
        }
    }

    /// Hostile: a stranger's state dict with MobileNet's keys and shapes that no MobileNet has
    /// (a 0-d or 1-d tensor where a conv weight goes, zero channels, a 2-d depthwise weight, a
    /// zero-row classifier) is refused with the keys named, never a crash.
    func testHostileShapesAreRefused() throws {
        let (_, good) = try load("tiny_mobilenet_v3_small")
        let cases: [(String, [Int])] = [("features.1.block.0.0.weight", []), ("features.1.block.0.0.weight", [8]),
                                        ("features.2.block.1.0.weight", [0, 1, 3, 3]), ("features.0.0.weight", [0, 3, 3, 3]),
                                        ("features.3.block.1.0.weight", [8, 3]), ("classifier.0.weight", [0, 48]),
                                        ("features.1.block.1.fc1.weight", [2, 2])]
        FamilyEvalFixture.hostileShapesAreRefused(cases.map { (good, $0.0, $0.1) })
    }
}
