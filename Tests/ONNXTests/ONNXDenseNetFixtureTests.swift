import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision DenseNets of Fixtures/densenet (real PyTorch), exported and evaluated op
/// by op (`ONNXReference`): Concat, BatchNormalization before Conv, AveragePool; the ONNX model
/// gives torch's eval logits. With GRAFT_ONNX_OUT=<folder> the models are written there for
/// Fixtures/check_onnx.py.
final class ONNXDenseNetFixtureTests: XCTestCase {
    static let models = ["tiny_densenet121", "tiny_densenet161"]

    func testEvalFixturesMatchTorch() throws {
        XCTAssertEqual(try ONNXMobileNetFixtureTests.checkEvalFixtures("densenet/models", Self.models), 4)
    }
}
