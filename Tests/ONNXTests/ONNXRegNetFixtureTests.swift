import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision RegNets of Fixtures/regnet (real PyTorch), exported and evaluated op by
/// op (`ONNXReference`): grouped Conv, the squeeze-and-excitation's Relu, Sigmoid and broadcast
/// Mul, projection shortcuts; the ONNX model gives torch's eval logits. With GRAFT_ONNX_OUT=<folder> the models are written there for
/// Fixtures/check_onnx.py.
final class ONNXRegNetFixtureTests: XCTestCase {
    static let models = ["tiny_regnet_y_400mf", "tiny_regnet_x_400mf", "tiny_regnet_x_8gf"]

    func testEvalFixturesMatchTorch() throws {
        XCTAssertEqual(try ONNXMobileNetFixtureTests.checkEvalFixtures("regnet/models", Self.models), 6)
    }
}
