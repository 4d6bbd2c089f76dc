import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision ConvNeXts of Fixtures/convnext (real PyTorch), exported and evaluated op
/// by op (`ONNXReference`): LayerNorm2d as Transpose / LayerNormalization / Transpose, the
/// Linears on each pixel as 1x1 Conv, GELU's Erf form, layer scale's Mul; the ONNX model gives
/// torch's eval logits.
final class ONNXConvNeXtFixtureTests: XCTestCase {
    static let models = ["tiny_convnext_tiny"]

    func testEvalFixturesMatchTorch() throws {
        XCTAssertEqual(try ONNXMobileNetFixtureTests.checkEvalFixtures("convnext/models", Self.models), 2)
    }
}
