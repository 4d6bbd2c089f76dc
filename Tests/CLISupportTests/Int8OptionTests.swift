import ArgumentParser
import CLISupport
import Engine
import FinetuneCommands
import Foundation
import Imaging
import Inference
import InferenceCommands
import Models
import TestSupport
import XCTest

/// `--precision int8` and `graft calibrate` through the commands' own code: refused up front
/// without VNNI (the AVX2 pass of `make test`), refused without a calibration file (with the
/// command that makes one) and with a stale one, refused by finetune; and end to end:
/// calibrate on images, then predict in int8 with the same top classes as f32.
final class Int8OptionTests: XCTestCase {
    static var fashionWeights: String {
        FixturePaths.root.deletingLastPathComponent().appendingPathComponent("weights/fashion04-resnet18.pth").path
    }

    func testPrecisionInt8IsRefusedUpFrontWithoutVNNI() throws {
        let cpu = CPUCapabilities.current
        if cpu.int8Fast {
            XCTAssertEqual(try ModelOptions.parse(["--precision", "int8"]).precision, .int8)
        } else {
            XCTAssertThrowsError(try ModelOptions.parse(["--precision", "int8"])) { error in
                let message = ModelOptions.message(for: error)
                for words in ["needs a CPU with VNNI or AMX", cpu.isa, "not exact", "core-ms per image", "Use --precision f32"] {
                    XCTAssertTrue(message.contains(words), message)
                }
            }
        }
        let help = ModelOptions.helpMessage(columns: 300)
        XCTAssertTrue(help.contains("f32|bf16|int8") && help.contains("graft calibrate --weights W --images DIR"), help)
    }

    func testFinetuneRefusesInt8() {
        XCTAssertThrowsError(try FinetuneCommandOptions.parse(["--weights", "w.pth", "--classes", "5", "--precision", "int8", "data"])) { error in
            XCTAssertTrue(FinetuneCommandOptions.message(for: error).contains("--precision int8 is for inference"))
        }
    }

    func testCalibrateThenPredictInInt8() throws {
        try XCTSkipUnless(CPUCapabilities.current.int8Fast, "int8 is refused on \(CPUCapabilities.current.isa)")
        let dir = Scratch.root.appendingPathComponent("int8-cli-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let weights = dir.appendingPathComponent("fashion.pth").path
        try FileManager.default.createSymbolicLink(atPath: weights, withDestinationPath: Self.fashionWeights)
        let transform = EvalTransform(resize: 36, crop: 32)
        // Without a calibration file: refused, naming the command to run.
        XCTAssertThrowsError(try Predictor(weights: weights, classIndices: nil, precision: .int8, transform: transform)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("\(dir.path)/fashion.calibration.json, which does not exist"), message)
            XCTAssertTrue(message.contains("Make it with: graft calibrate --weights \(weights) --images DIR"), message)
        }
        let images = try FileManager.default.contentsOfDirectory(atPath: FixturePaths.url("images/src").path)
            .filter { $0.hasPrefix("jpeg_") || $0.hasPrefix("png_") }.sorted().map { FixturePaths.url("images/src").appendingPathComponent($0).path }
        let run = try CalibrationRun.run(weights: weights, images: images, count: 12, batchSize: 5, method: .max, transform: transform,
                                         loadOptions: .torchvisionModel(allowObjects: false, limits: .init()))
        XCTAssertEqual(run.path, dir.appendingPathComponent("fashion.calibration.json").path)
        XCTAssertEqual(run.used.count, 12)
        XCTAssertEqual(run.calibration.imageSize, 32)
        XCTAssertEqual(run.calibration.weightsSHA256, try Calibration.sha256(ofFile: Self.fashionWeights))
        let first = try Data(contentsOf: URL(fileURLWithPath: run.path))
        _ = try CalibrationRun.run(weights: weights, images: images, count: 12, batchSize: 12, method: .max, transform: transform,
                                   loadOptions: .torchvisionModel(allowObjects: false, limits: .init()))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: run.path)), first, "the same images, the same file")

        func predictions(_ p: Precision) throws -> [Prediction] {
            let predictor = try Predictor(weights: weights, classIndices: nil, precision: p, transform: transform)
            var out: [Prediction] = []
            try predictor.predict(paths: Array(images.prefix(20)), batchSize: 8) { _, r in if case .success(let x) = r { out.append(x) } }
            return out
        }
        let f32 = try predictions(.f32), int8 = try predictions(.int8)
        XCTAssertEqual(int8.count, f32.count)
        XCTAssertGreaterThan(f32.count, 10)
        XCTAssertEqual(int8.map(\.index), f32.map(\.index), "the same top class as f32")
        XCTAssertNotEqual(int8.map(\.probs), f32.map(\.probs), "int8 ran")

        // A calibration of other weights is refused.
        let stale = String(decoding: first, as: UTF8.self).replacingOccurrences(of: run.calibration.weightsSHA256, with: String(repeating: "0", count: 64))
        try Data(stale.utf8).write(to: URL(fileURLWithPath: run.path))
        XCTAssertThrowsError(try Predictor(weights: weights, classIndices: nil, precision: .int8, transform: transform)) { error in
            XCTAssertTrue("\(error)".contains("was calibrated for other weights"), "\(error)")
        }
    }

    func testCalibrateIsAGraftSubcommand() throws {
        XCTAssertThrowsError(try Calibrate.parse(["--images", "d", "--count", "0"]))
        let c = try Calibrate.parse(["--images", "d"])
        _ = c
        XCTAssertTrue(Calibrate.helpMessage(columns: 300).contains("--method <max|percentile|kl>"))
    }

    /// Calibration samples every class: round robin over the folders under the root, each in
    /// path order; images directly in the root are a folder of their own, first; a flat folder
    /// keeps path order.
    func testCalibrationTakesEveryClassInTurn() {
        let images = ["d/a/1.png", "d/a/2.png", "d/a/3.png", "d/b/1.png", "d/c/x/1.png", "d/c/2.png", "d/top.png"]
        XCTAssertEqual(CalibrationRun.order(images, under: "d"),
                       ["d/top.png", "d/a/1.png", "d/b/1.png", "d/c/x/1.png", "d/a/2.png", "d/c/2.png", "d/a/3.png"])
        XCTAssertEqual(CalibrationRun.order(images, under: "d/"), CalibrationRun.order(images, under: "d"))
        XCTAssertEqual(CalibrationRun.order(["f/1.png", "f/2.png", "f/3.png"], under: "f"), ["f/1.png", "f/2.png", "f/3.png"])
        XCTAssertEqual(CalibrationRun.order([], under: "f"), [])
        XCTAssertEqual(CalibrationRun.order(images, under: "d").count, images.count)
    }
}
