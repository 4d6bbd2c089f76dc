import Engine
import Foundation
import Imaging
import Models
import TestSupport
import XCTest
@testable import Inference

/// predict's whole path (torch.save'd .pth → Checkpoint → ResNet; image → Imaging → tensor)
/// against torchvision + PIL's probabilities (Fixtures/gen_predict.py).
final class PredictorTests: XCTestCase {
    static let fixtures = FixturePaths.root

    func expected() throws -> [String: [String: [String: [Double]]]] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("predict/expected.json"))
        return try XCTUnwrap(ExactJSON.object(with: data) as? [String: [String: [String: [Double]]]])
    }

    func testLogitsAndProbabilitiesMatchTorch() throws { try check(.direct, probabilityTolerance: 1e-5) }

    /// `--conv auto` (batch_predict's and evaluate's default): each 3x3 stride-1 shape is timed
    /// and may run Winograd; probabilities stay within 1e-4 of PyTorch's, the top class the same.
    func testAutoStaysWithinTheToleranceOfTorch() throws {
        let tuners = try check(.auto, probabilityTolerance: 1e-4)
        for tuner in tuners {
            let decisions = try XCTUnwrap(tuner).decisions
            XCTAssertFalse(decisions.isEmpty)
            XCTAssertTrue(decisions.keys.allSatisfy { $0.hasSuffix(" eval") && $0.contains("3x3 stride 1") }, "\(decisions.keys)")
            XCTAssertTrue(decisions.values.allSatisfy { $0.directMilliseconds != nil }, "every shape measured: \(decisions)")
        }
    }

    @discardableResult
    func check(_ convolution: ConvolutionChoice, probabilityTolerance: Double) throws -> [ConvolutionTuner?] {
        var tuners: [ConvolutionTuner?] = []
        for (model, images) in try expected() {
            let predictor = try Predictor(weights: Self.fixtures.appendingPathComponent("predict/\(model).pth").path,
                                          classIndices: Self.fixtures.appendingPathComponent("predict/class_indices.json").path,
                                          convolution: convolution)
            tuners.append(predictor.convolutionTuner)
            XCTAssertEqual(predictor.classNames, ["daisy", "dandelion", "roses", "sunflowers", "tulips"])
            XCTAssertTrue(predictor.warnings.isEmpty, "\(predictor.warnings)")
            let names = images.keys.sorted()
            let paths = names.map { Self.fixtures.appendingPathComponent("images/src/\($0)").path }
            // Logits, one image at a time: within 1e-4 of the largest logit's magnitude.
            for (name, path) in zip(names, paths) {
                let x = try EvalTransform().tensor(path: path)
                let logits = try predictor.model.logits(images: x, batch: 1, height: 224, width: 224)
                let want = images[name]!["logits"]!.map(Float.init)
                let scale = want.map(abs).max()!
                XCTAssertEqual(logits.count, want.count, "\(model) \(name) logits")
                for (a, b) in zip(logits, want) { XCTAssertEqual(a, b, accuracy: 1e-4 * scale, "\(model) \(name) logits") }
            }
            // Probabilities through the batched pipeline (batch 3: a last partial batch).
            var seen: [String] = []
            try predictor.predict(paths: paths, batchSize: 3) { path, result in
                seen.append(path)
                guard case .success(let p) = result else { return XCTFail("\(path): \(result)") }
                let want = images[(path as NSString).lastPathComponent]!["probs"]!
                XCTAssertEqual(p.probs.count, want.count, "\(model) \(path)")
                for (a, b) in zip(p.probs, want) { XCTAssertEqual(Double(a), b, accuracy: probabilityTolerance, "\(model) \(path)") }
                XCTAssertEqual(p.index, want.indices.max { want[$0] < want[$1] }!)
            }
            XCTAssertEqual(seen, paths, "results come in input order")
        }
        return tuners
    }

    /// A torchvision ResNet inside the user's module (Fixtures/gen_wrapped.py): predict strips
    /// the wrapper's prefix, reads whole pickled models with allowObjects, and gives torch's
    /// logits.
    func testWrappedCheckpointsPredictAsTorch() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("wrapped/expected.json"))
        let manifest = try XCTUnwrap(ExactJSON.object(with: data) as? [String: [String: Any]])
        var checked = 0
        for (name, entry) in manifest.sorted(by: { $0.key < $1.key }) {
            guard let images = entry["logits"] as? [String: [Double]] else { continue }
            let path = Self.fixtures.appendingPathComponent("wrapped/\(name)").path
            let whole = entry["allow_objects"] as? Bool ?? false
            if whole {
                XCTAssertThrowsError(try Predictor(weights: path, classIndices: nil)) {
                    XCTAssertTrue("\($0)".contains("pass --allow-objects"), "\($0)")
                }
            }
            let predictor = try Predictor(weights: path, classIndices: nil, allowObjects: whole)
            if let prefix = entry["removed_prefix"] as? String {
                XCTAssertTrue(predictor.warnings.contains("\(path): removed the prefix '\(prefix)' from every key"), "\(predictor.warnings)")
            }
            XCTAssertEqual(predictor.numClasses, entry["num_classes"] as? Int, name)
            for (image, want) in images {
                let x = try EvalTransform().tensor(path: Self.fixtures.appendingPathComponent("images/src/\(image)").path)
                let logits = try x.withUnsafeBufferPointer { try predictor.model.logits(images: $0, batch: 1, height: 224, width: 224) }
                XCTAssertEqual(logits.count, want.count, name)
                let scale = want.map(abs).max()!
                for (a, b) in zip(logits, want) { XCTAssertEqual(Double(a), b, accuracy: 1e-4 * scale, "\(name) \(image)") }
            }
            checked += 1
        }
        XCTAssertEqual(checked, 8)
    }

    /// What predict cannot run says why, and names the keys.
    func testWrappedCheckpointsPredictRefuses() throws {
        func error(_ name: String, allowObjects: Bool = false) -> String {
            do {
                _ = try Predictor(weights: Self.fixtures.appendingPathComponent("wrapped/\(name)").path, classIndices: nil,
                                  allowObjects: allowObjects)
                return "no error"
            } catch { return "\(error)" }
        }
        let noFC = error("encoder_nofc.pth")
        XCTAssertTrue(noFC.contains("without its fc"), noFC)
        XCTAssertFalse(noFC.contains("missing keys"), noFC)
        for (name, whole) in [("backbone_head.pth", false), ("whole_backbone_head.pth", true)] {
            let e = error(name, allowObjects: whole)
            XCTAssertTrue(e.contains("under 'backbone.'") && e.contains("outside it: head.weight, head.bias"), e)
        }
        let two = error("two_resnets.pth")
        XCTAssertTrue(two.contains("2 torchvision ResNets") && two.contains("'student.'") && two.contains("'teacher.'"), two)
    }

    func testBadImagesAreReportedAndTheRestPredicted() throws {
        let predictor = try Predictor(weights: Self.fixtures.appendingPathComponent("predict/basic.pth").path, classIndices: nil)
        XCTAssertEqual(predictor.classNames, ["0", "1", "2", "3", "4"])
        XCTAssertFalse(predictor.warnings.isEmpty)
        let src = Self.fixtures.appendingPathComponent("images/src")
        let paths = ["jpeg_420.jpg", "bad_webp.webp", "missing.jpg", "png_rgb.png"].map { src.appendingPathComponent($0).path }
        var ok = 0, failed = 0
        try predictor.predict(paths: paths, batchSize: 2) { _, r in
            if case .success = r { ok += 1 } else { failed += 1 }
        }
        XCTAssertEqual(ok, 2)
        XCTAssertEqual(failed, 2)
    }

    /// Unreadable images among readable ones, within a batch and across batches: each result
    /// comes at its image's place, and each readable image gets torch's probabilities for it
    /// (the images that decoded are packed together before the forward pass).
    func testFailuresComeAtTheirPlaceAndEachImageKeepsItsOwnResult() throws {
        let want = try XCTUnwrap(try expected()["basic"])
        let predictor = try Predictor(weights: Self.fixtures.appendingPathComponent("predict/basic.pth").path, classIndices: nil)
        let names = ["bad_webp.webp", "jpeg_cmyk.jpg", "missing.jpg", "png_grey16.png", "bad_gif.gif", "jpeg_wide.jpg"]
        let paths = names.map { Self.fixtures.appendingPathComponent("images/src/\($0)").path }
        for size in [1, 2, 3, 4, 8] {
            var seen: [String] = [], ok: [Bool] = []
            try predictor.predict(paths: paths, batchSize: size) { path, result in
                seen.append(path)
                switch result {
                case .success(let p):
                    ok.append(true)
                    XCTAssertEqual(p.image, path)
                    let probs = try? XCTUnwrap(want[(path as NSString).lastPathComponent]?["probs"], path)
                    XCTAssertEqual(p.probs.count, probs?.count)
                    for (a, b) in zip(p.probs, probs ?? []) { XCTAssertEqual(Double(a), b, accuracy: 1e-5, "batch \(size) \(path)") }
                case .failure:
                    ok.append(false)
                }
            }
            XCTAssertEqual(seen, paths, "batch \(size): input order")
            XCTAssertEqual(ok, [false, true, false, true, false, true], "batch \(size)")
        }
    }

    func testNoImagesNoResults() throws {
        let predictor = try Predictor(weights: Self.fixtures.appendingPathComponent("predict/basic.pth").path, classIndices: nil)
        var calls = 0
        try predictor.predict(paths: [], batchSize: 4) { _, _ in calls += 1 }
        XCTAssertEqual(calls, 0)
    }

    func testClassCountMismatchIsAnError() throws {
        let ci = Scratch.root.appendingPathComponent("three-\(getpid()).json").path
        try ClassIndices(names: ["a", "b", "c"]).write(to: ci)
        XCTAssertThrowsError(try Predictor(weights: Self.fixtures.appendingPathComponent("predict/basic.pth").path, classIndices: ci)) {
            XCTAssertTrue("\($0)".contains("5 classes"), "\($0)")
        }
    }

    func testOutputFormats() {
        let p = Prediction(image: "a,b.jpg", probs: [0.1, 0.7, 0.2])
        let names = ["daisy", "dandelion", "roses"]
        XCTAssertEqual(PredictionOutput.text(p, names: names, topK: nil),
                       "class: daisy        prob: 0.1\nclass: dandelion    prob: 0.7\nclass: roses        prob: 0.2\nclass: dandelion   prob: 0.7")
        XCTAssertEqual(PredictionOutput.text(p, names: names, topK: 2),
                       "class: dandelion    prob: 0.7\nclass: roses        prob: 0.2\nclass: dandelion   prob: 0.7")
        XCTAssertEqual(PredictionOutput.batchLine(p, names: names), "image: a,b.jpg  class: dandelion  prob: 0.7")
        XCTAssertEqual(PredictionOutput.csvRow(p, names: names), "\"a,b.jpg\",dandelion,1,0.7")
        XCTAssertEqual(PredictionOutput.json(p, names: names),
                       "{\"image\": \"a,b.jpg\", \"class\": \"dandelion\", \"index\": 1, \"prob\": 0.7, \"probs\": [0.1, 0.7, 0.2]}")
    }
}
