import CLISupport
import ExportCommand
import Foundation
import Graft
import Imaging
import Inference
import TestSupport
import XCTest

/// The library product against the code the commands run: the same probabilities as predict, the
/// same scores as evaluate, the same ONNX bytes as `graft export`, and a fine-tune whose events,
/// files and result agree with each other.
final class GraftLibraryTests: XCTestCase {
    static let weights = FixturePaths.path("vgg/predict/tiny_vgg11_bn.pth")
    static let images = ["images/src/jpeg_420.jpg", "images/src/png_interlaced.png", "images/src/jpeg_exif6.jpg"].map(FixturePaths.path)

    func testClassifierAnswersWhatPredictAnswers() throws {
        // class_indices.json beside the weights names the classes.
        let classifier = try Classifier(weights: Self.weights)
        XCTAssertEqual(classifier.architecture, "vgg11_bn")
        XCTAssertEqual(classifier.classNames, ["daisy", "dandelion", "roses", "sunflowers", "tulips"])
        let p = classifier.preprocessing
        XCTAssertEqual([p.resize, p.crop], [256, 224])
        XCTAssertEqual(p.mean, [0.485, 0.456, 0.406])
        XCTAssertEqual(p.std, [0.229, 0.224, 0.225])
        XCTAssertEqual(p.interpolation, "bilinear")
        XCTAssertEqual(classifier.weightsPath, Self.weights)

        let predictor = try Predictor(weights: Self.weights, classIndices: FixturePaths.path("vgg/predict/class_indices.json"))
        var expected: [String: [Float]] = [:]
        try predictor.predict(paths: Self.images, batchSize: 1) { path, result in expected[path] = try? result.get().probs }
        for path in Self.images {
            let want = try XCTUnwrap(expected[path])
            // One image: predict's batch of one, bit for bit.
            XCTAssertEqual(try classifier.classify(file: path).probabilities, want, path)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            XCTAssertEqual(try classifier.classify(imageData: bytes).probabilities, want, path)
            XCTAssertEqual(try classifier.classify(image: Image(decoding: bytes)).probabilities, want, path)
        }
        // A batch, with an unreadable image in the middle: it alone fails.
        let batch = try [Self.images[0], Self.images[1]].map { Array(try Data(contentsOf: URL(fileURLWithPath: $0))) }
        let answers = try classifier.classify(images: [batch[0], Array("not an image".utf8), batch[1]])
        XCTAssertEqual(answers.count, 3)
        XCTAssertThrowsError(try answers[1].get())
        for (answer, path) in [(answers[0], Self.images[0]), (answers[2], Self.images[1])] {
            let got = try answer.get().probabilities, want = try XCTUnwrap(expected[path])
            XCTAssertEqual(got.count, want.count)
            XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) }.max() ?? .infinity, 1e-6, "a batch of two against batches of one")
        }
        var seen: [String] = []
        try classifier.classify(files: Self.images + ["/nonexistent.jpg"], batchSize: 2) { path, result in
            seen.append(path)
            switch result {
            case .success: XCTAssertNotEqual(path, "/nonexistent.jpg")
            case .failure: XCTAssertEqual(path, "/nonexistent.jpg")
            }
        }
        XCTAssertEqual(seen, Self.images + ["/nonexistent.jpg"])

        let answer = try classifier.classify(file: Self.images[0])
        XCTAssertEqual(answer.className, classifier.classNames[answer.index])
        XCTAssertEqual(answer.top(2).map(\.index), Prediction(image: "", probs: answer.probabilities).top(2))
        XCTAssertEqual(answer.top(2).first?.probability, answer.probability)
        XCTAssertEqual(answer.top(99).count, 5)
        XCTAssertThrowsError(try Classifier(weights: "/nonexistent/model.pth", options: { var o = Classifier.Options(); o.offline = true; return o }()))
        XCTAssertThrowsError(try Image(width: 2, height: 2, pixels: [1, 2, 3]))
    }

    /// What a stranger hands the library: hostile checkpoints and image bytes are refused with
    /// the reader's and decoder's errors, never a crash; the classifier goes on answering.
    func testHostileInputsAreRefused() throws {
        let hostile = ["hostile/shared_modules.pth", "checkpoints/overflow.pth", "checkpoints/negative_size.pth", "checkpoints/out_of_range.pth",
                       "checkpoints/deep_nesting.pth", "checkpoints/bad_opcode.pth", "checkpoints/empty.pth"]
        for name in hostile {
            XCTAssertThrowsError(try Classifier(weights: FixturePaths.path(name)), name)
        }
        let classifier = try Classifier(weights: Self.weights)
        let jpeg = Array(try Data(contentsOf: URL(fileURLWithPath: Self.images[0])))
        for (name, bytes) in [("empty", [UInt8]()), ("garbage", Array("GIF89a not really".utf8)), ("truncated", Array(jpeg.prefix(400))),
                              ("header only", Array(jpeg.prefix(2))), ("huge PNG header", [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
                               0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 8, 2, 0, 0, 0])] {
            XCTAssertThrowsError(try classifier.classify(imageData: bytes), name) { error in
                XCTAssertTrue(error is ImagingError, "\(name): \(error)")
            }
        }
        XCTAssertEqual(try classifier.classify(imageData: jpeg).probabilities.count, 5)
    }

    func testExportWritesWhatGraftExportWrites() throws {
        let classifier = try Classifier(weights: Self.weights)
        let dir = Scratch.root.appendingPathComponent("graft-lib-\(getpid())-export")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.onnx").path
        try classifier.exportONNX(to: path)
        let files = ModelFiles(weights: Self.weights, named: nil, classIndices: FixturePaths.path("vgg/predict/class_indices.json"),
                               transform: EvalTransform(), transformSource: nil)
        let (model, _) = try ModelExport.onnxModel(files, options: .torchvisionModel(), warn: { _ in })
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), model)
        XCTAssertThrowsError(try classifier.exportONNX(to: Self.weights), "never over the weights")
    }

    func testFineTuneReportsWritesAndLoads() throws {
        let dir = Scratch.root.appendingPathComponent("graft-lib-\(getpid())-finetune").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var run = FineTuneConfiguration(data: FixturePaths.path("trainset"), classes: 3)
        run.weights = FixturePaths.path("predict/basic.pth")
        run.outputFolder = dir + "/out"          // made by fineTune
        run.train = .fc
        run.epochs = 2
        run.batchSize = 8
        run.learningRate = 0.02
        run.imageSize = 32
        run.resize = 36
        run.augment = false
        run.seed = 11
        let events = EventLog()
        let result = try fineTune(run) { events.append($0) }

        let steps = events.all.compactMap { e -> (Int, Int, Int)? in if case let .step(epoch, step, per, _) = e { return (epoch, step, per) }; return nil }
        let epochs = events.all.compactMap { e -> EpochResult? in if case let .epoch(r) = e { return r }; return nil }
        XCTAssertEqual(epochs.map(\.epoch), [1, 2])
        XCTAssertEqual(epochs, result.history)
        let per = try XCTUnwrap(steps.first?.2)
        XCTAssertEqual(steps.map { [$0.0, $0.1] }, (1...2).flatMap { e in (1...per).map { [e, $0] } }, "every step, numbered within its epoch")
        XCTAssertTrue(events.all.contains { if case .log(let line) = $0 { return line.contains("[epoch 2]") }; return false })
        XCTAssertEqual(result.bestValidationAccuracy, epochs.map(\.validationAccuracy).max())
        for path in [result.weightsPath, result.classIndicesPath, result.metricsPath, result.reportPath] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: path), path)
            XCTAssertTrue(path.hasPrefix(dir + "/out/"), path)
        }

        // The model it wrote: its classes from the class_indices.json beside it, its sizes from
        // metrics.json, and evaluate's accuracy on val is the best epoch's.
        let classifier = try Classifier(weights: result.weightsPath)
        XCTAssertEqual(classifier.classNames, ["daisy", "roses", "tulips"])
        XCTAssertEqual(classifier.preprocessing.crop, 32)
        XCTAssertEqual(classifier.preprocessing.resize, 36)
        let report = try classifier.evaluate(folder: FixturePaths.path("trainset/val"), batchSize: 4)
        XCTAssertEqual(report.imageCount, 12)
        XCTAssertEqual(report.accuracy, result.bestValidationAccuracy, accuracy: 1e-9)
        XCTAssertEqual(report.perClass.map(\.support), [4, 4, 4])
        XCTAssertEqual(report.confusion.flatMap { $0 }.reduce(0, +), 12)
        XCTAssertTrue(report.text.contains("accuracy"))

        var bad = run
        bad.epochs = 0
        XCTAssertThrowsError(try fineTune(bad)) { XCTAssertTrue("\($0)".contains("epochs")) }
        bad = run
        bad.precision = .int8
        XCTAssertThrowsError(try fineTune(bad)) { XCTAssertTrue("\($0)".contains("int8")) }
    }
}

extension GraftLibraryTests {
    /// calibrate writes what `graft calibrate` writes (CalibrationRun over the same images in the
    /// same order), beside the weights, taking each class in turn; int8 is refused before it and
    /// runs after it (on a CPU with VNNI); bad arguments and an empty folder are refused.
    func testCalibrateWritesTheFileInt8Reads() throws {
        let dir = Scratch.root.appendingPathComponent("graft-lib-\(getpid())-calibrate").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let weights = dir + "/basic.pth"
        try FileManager.default.copyItem(atPath: FixturePaths.path("predict/basic.pth"), toPath: weights)
        var options = Classifier.Options()
        options.imageSize = 32
        options.resize = 36
        var int8 = options
        int8.precision = .int8
        let canInt8 = (try? Precision.int8.requireSupport()) != nil
        if canInt8 { XCTAssertThrowsError(try Classifier(weights: weights, options: int8)) { XCTAssertTrue("\($0)".contains("graft calibrate"), "\($0)") } }

        let folder = FixturePaths.path("trainset/train")
        let summary = try calibrate(weights: weights, images: folder, count: 7, batchSize: 3, method: .kl, options: options)
        XCTAssertEqual(summary.path, dir + "/basic.calibration.json")
        XCTAssertEqual(summary.images.count, 7)
        XCTAssertEqual(summary.images.prefix(3).map { URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent }, ["daisy", "roses", "tulips"])
        XCTAssertEqual(summary.method, .kl)
        XCTAssertTrue(summary.unreadable.isEmpty)
        XCTAssertGreaterThan(summary.activations, 0)
        // The command's code on the same images gives the same bytes.
        let listing = try ImageList.scan(folder, recursive: true)
        let reference = try CalibrationRun.run(weights: weights, images: CalibrationRun.order(listing.images, under: folder), count: 7, batchSize: 3,
                                               method: .kl, transform: EvalTransform(resize: 36, crop: 32), loadOptions: .torchvisionModel(),
                                               output: dir + "/reference.json")
        XCTAssertEqual(reference.used, summary.images)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/reference.json")), try Data(contentsOf: URL(fileURLWithPath: summary.path)))

        if canInt8 {
            let classifier = try Classifier(weights: weights, options: int8)
            let answer = try classifier.classify(file: summary.images[0])
            XCTAssertEqual(answer.probabilities.reduce(0, +), 1, accuracy: 1e-4)
        }
        XCTAssertThrowsError(try calibrate(weights: weights, images: folder, count: 0)) { XCTAssertTrue("\($0)".contains("count")) }
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        XCTAssertThrowsError(try calibrate(weights: weights, images: dir + "/empty")) { XCTAssertTrue("\($0)".contains("no .jpg"), "\($0)") }
    }
}

extension GraftLibraryTests {
    /// calibrate on folders a stranger made: missing, a file, a link loop, a truncated JPEG and a
    /// text file among the images, a name with control characters. It refuses or skips, and never
    /// hangs or crashes; what it skipped comes back in `unreadable`.
    func testCalibrateOnHostileFolders() throws {
        let dir = Scratch.root.appendingPathComponent("graft-lib-\(getpid())-calibrate-hostile").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/images/a", withIntermediateDirectories: true)
        let weights = dir + "/basic.pth"
        try FileManager.default.copyItem(atPath: FixturePaths.path("predict/basic.pth"), toPath: weights)
        var options = Classifier.Options()
        options.imageSize = 32
        options.resize = 36

        XCTAssertThrowsError(try calibrate(weights: weights, images: dir + "/missing", options: options)) {
            XCTAssertTrue("\($0)".contains(dir + "/missing"), "\($0)")
        }
        XCTAssertThrowsError(try calibrate(weights: weights, images: weights, options: options), "a file, not a folder")
        XCTAssertThrowsError(try calibrate(weights: weights, images: dir + "/images", batchSize: 0, options: options)) {
            XCTAssertTrue("\($0)".contains("batchSize"), "\($0)")
        }

        // One good image, a truncated JPEG first in order, a text file named .png, a link back up.
        let good = FixturePaths.path("trainset/train/daisy/" + (try FileManager.default.contentsOfDirectory(atPath: FixturePaths.path("trainset/train/daisy")).sorted().first { $0.hasSuffix(".jpg") && !$0.contains("corrupt") })!)
        try FileManager.default.copyItem(atPath: FixturePaths.path("trainset/train/roses/99_corrupt.jpg"), toPath: dir + "/images/a/0_truncated.jpg")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/images/a/1_text.png"))
        try FileManager.default.copyItem(atPath: good, toPath: dir + "/images/a/2_\u{1b}[31mred.jpg")
        try FileManager.default.createSymbolicLink(atPath: dir + "/images/a/loop", withDestinationPath: "..")
        let summary = try calibrate(weights: weights, images: dir + "/images", count: 5, batchSize: 2, options: options)
        XCTAssertEqual(summary.images, [dir + "/images/a/2_\u{1b}[31mred.jpg"], "the one image that decodes, once, though the loop leads back")
        XCTAssertEqual(summary.unreadable.map { ($0.path as NSString).lastPathComponent }, ["0_truncated.jpg", "1_text.png"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: summary.path))
    }
}

/// Events heard from another thread.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [FineTuneEvent] = []
    func append(_ e: FineTuneEvent) { lock.lock(); events.append(e); lock.unlock() }
    var all: [FineTuneEvent] { lock.lock(); defer { lock.unlock() }; return events }
}
