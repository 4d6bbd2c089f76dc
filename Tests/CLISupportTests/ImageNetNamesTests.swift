import CLISupport
import Foundation
import Hub
import Imaging
import Inference
import TestSupport
import XCTest

/// A 1000-class model without class_indices.json (Fixtures/hub/imagenet_tiny, made by torch) is
/// named with ImageNet's classes, at torch's indices, and predict shows its five best.
final class ImageNetNamesTests: XCTestCase {
    struct Expected: Decodable { let image: String; let top5: [Int]; let names: [String]; let probs: [Float] }

    func testA1000ClassModelPrintsImageNetNames() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: FixturePaths.url("hub/imagenet_tiny.json")))
        // A folder without class_indices.json.
        let dir = Scratch.root.appendingPathComponent("ImageNetNames-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }

        let options = try ModelOptions.parse(["--weights", FixturePaths.path("hub/imagenet_tiny.pth")])
        let predictor = try options.makePredictor()
        XCTAssertTrue(predictor.usesKnownNames)
        XCTAssertEqual(predictor.classNames, ImageNet.categories)
        XCTAssertEqual(ModelOptions.topK(nil, for: predictor), 5, "five by default for ImageNet's classes")
        XCTAssertEqual(ModelOptions.topK(3, for: predictor), 3)

        var prediction: Prediction?
        try predictor.predict(paths: [FixturePaths.path("images/src/\(expected.image)")], batchSize: 1) { _, result in
            prediction = try? result.get()
        }
        let p = try XCTUnwrap(prediction)
        XCTAssertEqual(p.top(5), expected.top5, "torch's five best classes")
        XCTAssertEqual(p.top(5).map { predictor.classNames[$0] }, expected.names, "named as torchvision names them")
        for (i, index) in expected.top5.enumerated() { XCTAssertEqual(p.probs[index], expected.probs[i], accuracy: 1e-5) }
        let text = PredictionOutput.text(p, names: predictor.classNames, topK: ModelOptions.topK(nil, for: predictor))
        XCTAssertTrue(text.hasPrefix("class: water ouzel   prob: 0.439"), text)
        XCTAssertEqual(text.split(separator: "\n").count, 6, "five classes and the top one: \(text)")
    }

    /// A model of another size keeps printing indices without class_indices.json.
    func testOtherModelsAreNotNamedWithImageNet() throws {
        let options = try ModelOptions.parse(["--weights", FixturePaths.path("predict/basic.pth"),
                                              "--class-indices", "/nonexistent/class_indices.json"])
        let predictor = try options.makePredictor()
        XCTAssertFalse(predictor.usesKnownNames)
        XCTAssertEqual(predictor.classNames, ["0", "1", "2", "3", "4"])
        XCTAssertNil(ModelOptions.topK(nil, for: predictor))
    }

    /// An unknown name lists the known ones; --offline and --weights-mirror parse.
    func testNamesAndSourceOptions() throws {
        let options = try ModelOptions.parse(["--weights", "resnet99", "--offline", "--weights-mirror", "http://mirror.example/models"])
        XCTAssertTrue(options.source.offline)
        XCTAssertEqual(options.source.weightsMirror, "http://mirror.example/models")
        XCTAssertThrowsError(try options.makePredictor()) { XCTAssertTrue("\($0)".contains("resnet50:IMAGENET1K_V2"), "\($0)") }
        let help = ModelOptions.helpMessage(columns: 400)
        XCTAssertTrue(help.contains("--weights-mirror") && help.contains("--offline") && help.contains("NAME[:VERSION]"), help)
    }

    /// Named weights are evaluated as their metadata says: EfficientNet b0's V1 at 256 / 224
    /// bicubic, b1's V2 at 255 / 240 bilinear, v2_l's at 480 with mean and std 0.5.
    func testNamedWeightsGiveTheirEvalTransform() throws {
        let b0 = ModelFiles.evalTransform(of: try TorchvisionWeights.named("efficientnet_b0"))
        XCTAssertEqual(b0, EvalTransform(resize: 256, crop: 224, interpolation: .bicubic))
        let b1 = ModelFiles.evalTransform(of: try TorchvisionWeights.named("efficientnet_b1:IMAGENET1K_V2"))
        XCTAssertEqual(b1, EvalTransform(resize: 255, crop: 240, interpolation: .bilinear))
        let l = ModelFiles.evalTransform(of: try TorchvisionWeights.named("efficientnet_v2_l"))
        XCTAssertEqual(l, EvalTransform(resize: 480, crop: 480, normalization: Normalization(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]),
                                        interpolation: .bicubic))
        XCTAssertEqual(ModelFiles.evalTransform(of: try TorchvisionWeights.named("resnet34")), EvalTransform())
        // --image-size / --resize change the sizes only: the weights' statistics and resampling stay.
        let sized = ModelFiles.evalTransform(of: try TorchvisionWeights.named("efficientnet_v2_l"), sized: EvalTransform(resize: 256, crop: 224))
        XCTAssertEqual(sized, EvalTransform(resize: 256, crop: 224, normalization: l.normalization, interpolation: .bicubic))
    }

    /// Hostile: --interpolation takes bilinear or bicubic, nothing else, and says which.
    func testInterpolationOtherThanTheTwoIsRefused() throws {
        XCTAssertEqual(try ModelOptions.parse(["--interpolation", "bicubic"]).interpolation, .bicubic)
        XCTAssertNil(try ModelOptions.parse([]).interpolation)
        for bad in ["lanczos", "BICUBIC", "", "bicubic\u{0}", "nearest"] {
            XCTAssertThrowsError(try ModelOptions.parse(["--interpolation", bad]), bad) { error in
                let message = ModelOptions.fullMessage(for: error)
                XCTAssertTrue(message.contains("bilinear") && message.contains("bicubic"), message)
            }
        }
    }
}
