import CLISupport
import Inference
import Models
import TestSupport
import XCTest

/// `--conv` for predict, batch_predict and evaluate: absent, each command's own default (direct
/// for predict's one image, auto for the others); given, as given.
final class InferenceConvOptionTests: XCTestCase {
    let weights = FixturePaths.path("predict/basic.pth")

    func predictor(_ args: [String], defaultConv: ConvolutionChoice) throws -> Predictor {
        try ModelOptions.parse(["--weights", weights, "--class-indices", FixturePaths.path("predict/class_indices.json")] + args)
            .makePredictor(warns: false, defaultConv: defaultConv)
    }

    func testEachCommandsDefaultAndWhatIsGiven() throws {
        XCTAssertNil(try ModelOptions.parse([]).conv)
        XCTAssertNil(try predictor([], defaultConv: .direct).convolutionTuner, "predict: direct, nothing measured")
        XCTAssertNotNil(try predictor([], defaultConv: .auto).convolutionTuner, "batch_predict, evaluate: auto")
        XCTAssertNotNil(try predictor(["--conv", "auto"], defaultConv: .direct).convolutionTuner)
        XCTAssertNil(try predictor(["--conv", "direct"], defaultConv: .auto).convolutionTuner)
        XCTAssertNil(try predictor(["--conv", "winograd"], defaultConv: .auto).convolutionTuner, "winograd: chosen, not measured")
        XCTAssertThrowsError(try ModelOptions.parse(["--conv", "fast"]))
    }
}
