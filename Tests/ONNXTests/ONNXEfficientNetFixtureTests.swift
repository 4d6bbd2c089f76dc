import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision EfficientNets of Fixtures/efficientnet (real PyTorch), exported and
/// evaluated op by op (`ONNXReference`): SiLU as Sigmoid and Mul, the squeeze-and-excitation's
/// Sigmoid and broadcast Mul, depthwise and fused convs, stochastic depth gone; the ONNX model
/// gives torch's eval logits. With GRAFT_ONNX_OUT=<folder> the models are written there for
/// Fixtures/check_onnx.py.
final class ONNXEfficientNetFixtureTests: XCTestCase {
    static let models = ["tiny_efficientnet_b0", "tiny_efficientnet_b5", "tiny_efficientnet_v2_s"]

    func testEvalFixturesMatchTorch() throws {
        XCTAssertEqual(try ONNXMobileNetFixtureTests.checkEvalFixtures("efficientnet/models", Self.models), 6)
    }
}
