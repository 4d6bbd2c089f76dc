import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// torchvision's EfficientNets on the graph (tiny widths, every variant's real blocks) against
/// real PyTorch (Fixtures/efficientnet, gen_efficientnet.py): SiLU, squeeze-and-excitation with
/// sigmoid, FusedMBConv (v2), batch norm eps 1e-3 (b5-b7, v2); and their architecture read from keys.
final class EfficientNetInferenceTests: XCTestCase {
    static let root = FixturePaths.url("efficientnet")
    let fixture = FamilyEvalFixture("efficientnet")
    static let models = (0...7).map { "tiny_efficientnet_b\($0)" } + ["s", "m", "l"].map { "tiny_efficientnet_v2_\($0)" }

    func load(_ name: String) throws -> (FamilyEvalFixture.Meta, StateDict) { try fixture.load(name) }

    /// f32 and bf16 logits and probabilities against PyTorch at every input size (`FamilyEvalFixture`).
    func testEveryVariantMatchesPyTorch() throws { try fixture.everyModelMatchesPyTorch(Self.models) }

    /// torchvision's real EfficientNet keys and shapes: detected by name (b1 and b2, with the same
    /// blocks, by their widths), the graph's keys torchvision's state_dict exactly.
    func testTorchvisionKeysAreDetected() throws {
        try fixture.torchvisionKeysAreDetected(variants: EfficientNetFamily().variantNames) { name, guess, convs in
            // inspect_weights' "convs per stage": every conv but the stem's, in the feature stages.
            XCTAssertEqual(guess.blocks.reduce(0, +), convs - 1, name)
            XCTAssertEqual(guess.blocks.count, name == "efficientnet_v2_s" ? 6 : 7, name)
        }
    }

    /// An EfficientNet with a key missing or a shape wrong is refused as an EfficientNet, naming
    /// the keys; one with a block too few is refused with torchvision's block counts.
    func testBrokenEfficientNetIsRefused() throws {
        var (_, sd) = try load("tiny_efficientnet_b0")
        sd["features.2.0.block.1.1.running_var"] = nil
        sd["classifier.1.bias"] = TensorData(shape: [3], floats: [Float](repeating: 1, count: 3))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "EfficientNet")
            XCTAssertEqual(missing, ["features.2.0.block.1.1.running_var"])
            XCTAssertEqual(wrong.map(\.key), ["classifier.1.bias"])
        }
        var (_, b0) = try load("tiny_efficientnet_b0")
        for k in b0.keys where k.hasPrefix("features.6.3.") { b0[k] = nil }
        XCTAssertThrowsError(try InferenceModel(stateDict: b0)) { error in
            XCTAssertTrue("\(error)".contains("[1, 2, 2, 3, 3, 3, 1] blocks per stage") && "\(error)".contains("efficientnet_b0 has [1, 2, 2, 3, 3, 4, 1]"), "\(error)")
        }
    }

    /// Hostile: a stranger's state dict with EfficientNet's keys and shapes that no EfficientNet
    /// has (a 0-d or 1-d tensor where a conv weight goes, zero channels, a 2-d depthwise weight,
    /// a zero-row classifier, a 2-d SE weight) is refused with the key named, never a crash.
    func testHostileShapesAreRefused() throws {
        let (_, good) = try load("tiny_efficientnet_b0")
        let (_, fused) = try load("tiny_efficientnet_v2_s")
        let cases: [(StateDict, String, [Int])] = [
            (good, "features.1.0.block.0.0.weight", []), (good, "features.1.0.block.0.0.weight", [8]),
            (good, "features.2.0.block.1.0.weight", [0, 1, 3, 3]), (good, "features.0.0.weight", [0, 3, 3, 3]),
            (good, "features.3.0.block.1.0.weight", [8, 3]), (good, "classifier.1.weight", [0, 48]),
            (good, "features.1.0.block.1.fc1.weight", [2, 2]), (fused, "features.2.0.block.0.0.weight", [8, 8, 0, 3]),
            (fused, "features.2.0.block.1.0.weight", [7]),
        ]
        FamilyEvalFixture.hostileShapesAreRefused(cases)
    }

    /// Stochastic depth as torchvision sets it: on each residual block's branch, 0.2 x the block's
    /// index / the block count (torchvision's efficientnet_b0, read from its modules).
    func testStochasticDepthProbabilitiesAreTorchvisions() throws {
        let g = try XCTUnwrap(Families.architecture(variant: "efficientnet_b0")).graph
        let ps = g.nodes.compactMap { n -> Double? in if case .stochasticDepth(let p) = n.op { return p } else { return nil } }
        let torchvision = [0.025, 0.05, 0.075, 0.0875, 0.1125, 0.125, 0.15, 0.1625, 0.175]
        XCTAssertEqual(ps.count, torchvision.count)
        for (a, b) in zip(ps, torchvision) { XCTAssertEqual(a, b, accuracy: 1e-12) }
    }

    /// In training, stochastic depth (and dropout) draw from the seeded generator: the same seed
    /// gives the same step, another seed another; switched off, the step is deterministic and
    /// differs from a drawn one.
    func testStochasticDepthIsSeededInTraining() throws {
        let (meta, sd) = try load("tiny_efficientnet_b0")
        let k = try XCTUnwrap(meta.cases["32x32"])
        let x = try float32s(at: Self.root.appendingPathComponent("models/\(k.input)"))
        func logits(seed: UInt64, enabled: Bool) throws -> [Float] {
            let net = try Network(stateDict: sd, head: .keep, seed: seed)
            net.dropoutEnabled = enabled
            return try x.withUnsafeBufferPointer {
                try net.trainStep(images: $0, labels: [Int](repeating: 0, count: k.batch), batch: k.batch, height: k.height, width: k.width).logits
            }
        }
        let a = try logits(seed: 1, enabled: true)
        XCTAssertEqual(try logits(seed: 1, enabled: true), a)
        XCTAssertNotEqual(try logits(seed: 2, enabled: true), a)
        XCTAssertEqual(try logits(seed: 1, enabled: false), try logits(seed: 2, enabled: false))
        XCTAssertNotEqual(try logits(seed: 1, enabled: false), a)
    }
}
