import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision Inception V3s of Fixtures/inception (real PyTorch), exported and evaluated
/// op by op (`ONNXReference`): transform_input as Mul and Add by [C, 1, 1] constants, the
/// factorised convs' kernel_shape and pads per axis, Concat, AveragePool counting the padding;
/// the auxiliary classifier left out as `model.eval()` leaves it. The ONNX model gives torch's
/// eval logits at 299x299, 75x75 and 107x139.
final class ONNXInceptionFixtureTests: XCTestCase {
    static let models = ["tiny_inception_v3", "tiny_inception_v3_noaux"]

    func testEvalFixturesMatchTorch() throws {
        XCTAssertEqual(try ONNXMobileNetFixtureTests.checkEvalFixtures("inception/models", Self.models), 6)
    }

    /// With or without AuxLogits in the state dict, the export is the same graph: no AuxLogits
    /// initializer, one output.
    func testTheAuxiliaryClassifierIsNotExported() throws {
        let dir = FixturePaths.url("inception/models/tiny_inception_v3")
        let sd = try ONNXVGGFixtureTests.weights(dir)
        let arch = try Architecture.detect(sd)
        XCTAssertEqual(arch.graph.auxiliary.count, 1)
        let proto = try ONNXExport.modelProto(graph: arch.graph, stateDict: sd, imageSize: (299, 299))
        XCTAssertFalse(proto.graph.initializer.contains { $0.name.hasPrefix("AuxLogits.") })
        XCTAssertEqual(proto.graph.output.count, 1)
        XCTAssertEqual(proto.graph.node.first?.opType, "Mul")
        XCTAssertEqual(proto.graph.node.dropFirst().first?.opType, "Add")
    }
}
