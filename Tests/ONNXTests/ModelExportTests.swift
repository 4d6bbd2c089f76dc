import ArgumentParser
import CLISupport
import Checkpoint
import ExportCommand
import Foundation
import Imaging
import Inference
import Models
import ONNX
import TestSupport
import XCTest

/// What `graft export` writes (`ModelExport`, the files found as predict finds them) gives
/// Graft's own logits: the exported model of a VGG and a ResNet fixture checkpoint, evaluated
/// op by op (`ONNXReference`) on real images through the eval transform, against predict's
/// model on the same tensor. (ONNX Runtime and OpenVINO: Fixtures/check_onnx.py, by hand; with
/// GRAFT_ONNX_OUT=<folder> the models and their inputs are written there for it.)
final class ModelExportTests: XCTestCase {
    func check(weights: String, classIndices: String, name: String) throws {
        let files = try ModelFiles.find(weights: weights, classIndices: classIndices, imageSize: nil, resize: nil,
                                        source: try WeightsSourceOptions.parse(["--offline"]), verbose: false)
        var warnings: [String] = []
        let (data, summary) = try ModelExport.onnxModel(files, options: .torchvisionModel(), warn: { warnings.append($0) })
        XCTAssertEqual(warnings, [], name)
        XCTAssertEqual(summary.crop, 224, name)
        XCTAssertEqual(summary.bytes, data.count, name)
        let model = try Onnx_ModelProto(serializedBytes: data)

        // Two images through the eval transform, as one batch (the batch is dynamic).
        let images = ["jpeg_420.jpg", "png_rgba.png"].map { FixturePaths.path("images/src/\($0)") }
        let per = files.transform.tensorCount
        var input = [Float](repeating: 0, count: per * images.count)
        try input.withUnsafeMutableBufferPointer { buffer in
            for (i, path) in images.enumerated() {
                try files.transform.write(path: path, into: UnsafeMutableBufferPointer(rebasing: buffer[(i * per)..<((i + 1) * per)]))
            }
        }
        let crop = files.transform.crop
        let got = try ONNXReference(model: model).run(.init(shape: [images.count, 3, crop, crop], values: input))

        let predictor = try Predictor(weights: files.weights, classIndices: files.classIndices, transform: files.transform)
        let want = try predictor.model.logits(images: input, batch: images.count, height: crop, width: crop)
        XCTAssertEqual(got.shape, [images.count, predictor.numClasses], name)
        let rel = maxRelativeError(got.values, want, rows: images.count)
        print("[export] \(name): \(model.graph.node.count) nodes, max relative error against Graft's logits \(rel)")
        XCTAssertLessThanOrEqual(rel, 1e-4, "\(name): the exported model's logits differ from Graft's")
        XCTAssertEqual(model.metadataProps.first { $0.key == "class_names" }?.value,
                       String(decoding: try JSONEncoder().encode(predictor.classNames), as: UTF8.self), name)

        if let out = ProcessInfo.processInfo.environment["GRAFT_ONNX_OUT"] {
            let folder = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try data.write(to: folder.appendingPathComponent("export_\(name).onnx"))
            try input.withUnsafeBytes { try Data($0).write(to: folder.appendingPathComponent("export_\(name).input.raw")) }
        }
    }

    func testVGGExportGivesGraftsLogits() throws {
        try check(weights: FixturePaths.path("vgg/predict/tiny_vgg11_bn.pth"),
                  classIndices: FixturePaths.path("vgg/predict/class_indices.json"), name: "tiny_vgg11_bn")
    }

    func testResNetExportGivesGraftsLogits() throws {
        try check(weights: FixturePaths.path("predict/basic.pth"), classIndices: FixturePaths.path("predict/class_indices.json"),
                  name: "basic")
    }
}
