import Checkpoint
import Engine
import Foundation
@testable import Models
import TestSupport
import XCTest

/// torchvision's ConvNeXts on the graph (tiny widths, every variant's real blocks) against real
/// PyTorch (Fixtures/convnext, gen_convnext.py): 7x7 depthwise convs, LayerNorm over the
/// channels, nn.Linear on each pixel with GELU, layer scale (folded into the conv before it in
/// inference), the stride-4 stem and 2x2 downsamples.
final class ConvNeXtInferenceTests: XCTestCase {
    let fixture = FamilyEvalFixture("convnext")
    static let models = ConvNeXtFamily().variantNames.map { "tiny_" + $0 }

    func load(_ name: String) throws -> (FamilyEvalFixture.Meta, StateDict) { try fixture.load(name) }

    func testEveryVariantMatchesPyTorch() throws { try fixture.everyModelMatchesPyTorch(Self.models) }

    /// torchvision's real keys and shapes (`layer_scale` before each block's modules): named, in order.
    func testTorchvisionKeysAreDetected() throws {
        try fixture.torchvisionKeysAreDetected(variants: ConvNeXtFamily().variantNames) { name, guess, _ in
            XCTAssertEqual(guess.family, "ConvNeXt", name)
            XCTAssertEqual(guess.blocks.count, 4, name)
        }
    }

    /// Stochastic depth's probabilities are torchvision's: block k of K drops with p * k / (K - 1).
    func testStochasticDepthProbabilities() throws {
        let arch = try XCTUnwrap(Families.architecture(variant: "convnext_small"))
        let ps = arch.graph.nodes.compactMap { n -> Double? in if case .stochasticDepth(let p) = n.op { return p } else { return nil } }
        XCTAssertEqual(ps.count, 36)
        XCTAssertEqual(ps.first, 0)
        XCTAssertEqual(ps.last ?? 0, 0.4, accuracy: 1e-12)
        XCTAssertEqual(ps[7], 0.4 * 7 / 35, accuracy: 1e-12)
    }

    /// A ConvNeXt with a key missing or a shape wrong is refused as a ConvNeXt, naming the keys.
    func testBrokenAndHostileConvNeXtIsRefused() throws {
        var (_, sd) = try load("tiny_convnext_tiny")
        sd["features.3.1.block.2.bias"] = nil
        sd["classifier.2.bias"] = TensorData(shape: [2], floats: [1, 1])
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "ConvNeXt")
            XCTAssertEqual(missing, ["features.3.1.block.2.bias"])
            XCTAssertEqual(wrong.map(\.key), ["classifier.2.bias"])
        }
        let (_, good) = try load("tiny_convnext_tiny")
        let cases: [(String, [Int])] = [
            ("features.0.0.weight", []), ("features.1.0.block.0.weight", [8, 1, 7]), ("features.1.0.block.3.weight", [32, 8, 1, 1]),
            ("features.1.0.layer_scale", [0, 1, 1]), ("features.3.0.block.5.weight", [16, 63]), ("classifier.0.weight", [0]),
            ("classifier.2.weight", [0, 32]), ("features.2.1.weight", [16, 8, 3, 3]),
        ]
        FamilyEvalFixture.hostileShapesAreRefused(cases.map { (good, $0.0, $0.1) })
    }
}
