import ArgumentParser
import CLISupport
import Foundation
import HTMLReport
import Imaging
import Inference
import TestSupport
import Training
import XCTest

/// `--tta` of predict, batch_predict and evaluate (ModelOptions): parsed, given to the
/// predictor, explained in --help; evaluate's figures come from the TTA probabilities.
final class TTAOptionTests: XCTestCase {
    let modelArgs = ["--weights", FixturePaths.path("evaluate/model.pth"),
                     "--class-indices", FixturePaths.path("evaluate/class_indices.json")]

    func testParsedAndGivenToThePredictor() throws {
        XCTAssertEqual(try ModelOptions.parse([]).tta, TestTimeAugmentation.none)
        XCTAssertEqual(try ModelOptions.parse(modelArgs + ["--tta", "flip"]).makePredictor(warns: false).tta, .flip)
        XCTAssertEqual(try ModelOptions.parse(modelArgs).makePredictor(warns: false).tta, TestTimeAugmentation.none)
        XCTAssertThrowsError(try ModelOptions.parse(["--tta", "mirror"]))
        let help = ModelOptions.helpMessage(columns: 400)
        XCTAssertTrue(help.contains("--tta <none|flip>") && help.contains("torch.flip(x, dims=[3])"), help)
    }

    /// evaluate's run with `--tta flip`: each image's probabilities are the mean of the model's
    /// softmax on its tensor and on the tensor mirrored (computed here one image at a time), and
    /// the report's figures are those of these probabilities.
    func testEvaluateScoresTheTTAProbabilities() throws {
        let options = try ModelOptions.parse(modelArgs + ["--tta", "flip", "--conv", "direct"])
        let dir = FixturePaths.path("trainset/train")
        let page = Scratch.root.appendingPathComponent("graft-tta-\(UUID().uuidString).html").path
        defer { try? FileManager.default.removeItem(atPath: page) }
        var predictor: Predictor?
        let result = try EvaluationRun.run(dir: dir, report: page, weights: "model.pth", batchSize: 3,
                                           makePredictor: { let p = try options.makePredictor(warns: false); predictor = p; return p },
                                           warn: { _ in })
        let model = try XCTUnwrap(predictor).model
        XCTAssertFalse(result.images.isEmpty)
        var differs = false
        for (path, got) in zip(result.images, result.probabilities) {
            var x = try EvalTransform().tensor(path: path) + [Float](repeating: 0, count: 3 * 224 * 224)
            x.withUnsafeMutableBufferPointer { TestTimeAugmentation.appendMirrors($0, count: 1, channels: 3, height: 224, width: 224) }
            let both = try model.probabilities(images: x, batch: 2, height: 224, width: 224)
            let k = got.count
            for c in 0..<k { XCTAssertEqual(got[c], (both[c] + both[k + c]) / 2, accuracy: 1e-6, path) }
            differs = differs || zip(got, both).contains { abs($0 - $1) > 1e-4 }
        }
        XCTAssertTrue(differs, "the mirror changes some probabilities")
        let again = try ClassificationReport(classNames: result.report.classNames, labels: result.labels, probabilities: result.probabilities)
        XCTAssertEqual(result.report.confusion, again.confusion)
        XCTAssertEqual(result.report.accuracy, again.accuracy)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssertTrue(html.contains("model.pth</bdi> (--tta flip): "), "the page says how it was scored")
        XCTAssertTrue(result.text().contains("(--tta flip: each image's probabilities the mean of its own and its mirror's)"), result.text())
        let json = try XCTUnwrap(ExactJSON.object(with: Data(result.json().utf8)) as? [String: Any])
        XCTAssertEqual(json["tta"] as? String, "flip")
    }

    /// The evaluate executable accepts `--tta flip` and prints its report.
    func testEvaluateCommandRunsWithFlip() throws {
        let r = try ProcessRun.run(try ProcessRun.executable("evaluate"),
                                   modelArgs + ["--tta", "flip", "--json", FixturePaths.path("trainset/train")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(ExactJSON.object(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertNotNil(json["accuracy"], r.stdout)
        XCTAssertEqual(json["tta"] as? String, "flip")
    }
}
