import TestSupport
import CLISupport
import Imaging
import Inference
import Foundation
import XCTest

/// Which class_indices.json predict, batch_predict, evaluate and serve read without
/// --class-indices: the one beside weights in another folder, else the current folder's.
final class DefaultClassIndicesTests: XCTestCase {
    func testTheFileBesideTheWeightsComesFirst() throws {
        let dir = Scratch.root.appendingPathComponent("graft-ci-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let weights = dir + "/run/resNet18.pth"
        try Data([0]).write(to: URL(fileURLWithPath: weights))
        let source = try WeightsSourceOptions.parse(["--offline"])
        func found(_ given: String? = nil) throws -> String? {
            try ModelFiles.find(weights: weights, classIndices: given, imageSize: nil, resize: nil, source: source, verbose: false).classIndices
        }
        XCTAssertEqual(try found(), "class_indices.json", "none beside the weights: the current folder's")
        try Data(#"{"0": "a"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/run/class_indices.json"))
        XCTAssertEqual(try found(), dir + "/run/class_indices.json")
        XCTAssertEqual(try found("mine.json"), "mine.json", "--class-indices wins")
        XCTAssertEqual(ModelFiles.defaultClassIndices(weights: "resNet18.pth"), "class_indices.json")
        // Hostile: a folder named class_indices.json beside the weights is not a names file.
        try FileManager.default.removeItem(atPath: dir + "/run/class_indices.json")
        try FileManager.default.createDirectory(atPath: dir + "/run/class_indices.json", withIntermediateDirectories: false)
        XCTAssertEqual(try found(), "class_indices.json")
    }

    /// Hostile: named pipes, and links to /dev/zero, under the names read unasked beside downloaded weights
    /// (class_indices.json, <stem>.metrics.json, metrics.json, <stem>.calibration.json) would block
    /// a read or never end it. None is read: the current folder's names file is taken instead, the sizes
    /// are predict's own, and a pipe given or needed is refused with what it is.
    func testNamedPipesBesideTheWeightsAreNotRead() throws {
        let dir = Scratch.root.appendingPathComponent("graft-ci-\(getpid())-fifo").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/run", withIntermediateDirectories: true)
        let weights = dir + "/run/resNet18.pth"
        try Data([0]).write(to: URL(fileURLWithPath: weights))
        for name in ["class_indices.json", "resNet18.metrics.json", "metrics.json", "resNet18.calibration.json"] {
            XCTAssertEqual(mkfifo(dir + "/run/" + name, 0o644), 0, name)
        }
        let source = try WeightsSourceOptions.parse(["--offline"])
        let files = try ModelFiles.find(weights: weights, classIndices: nil, imageSize: nil, resize: nil, source: source, verbose: false)
        XCTAssertEqual(files.classIndices, "class_indices.json")
        XCTAssertNil(files.transformSource)
        XCTAssertEqual(files.transform, EvalTransform(resize: 256, crop: 224))
        XCTAssertThrowsError(try Predictor.classNames(classes: 3, weights: weights, classIndices: dir + "/run/class_indices.json", knownNames: nil)) {
            XCTAssertTrue("\($0)".contains("named pipe"), "\($0)")
        }
        XCTAssertThrowsError(try CalibrationRun.read(forWeights: weights)) { XCTAssertTrue("\($0)".contains("named pipe"), "\($0)") }

        // Links to an endless device under the same names: refused unread, not read to the end.
        try FileManager.default.createDirectory(atPath: dir + "/zero", withIntermediateDirectories: true)
        let zeroWeights = dir + "/zero/resNet18.pth"
        try Data([0]).write(to: URL(fileURLWithPath: zeroWeights))
        for name in ["class_indices.json", "resNet18.metrics.json", "metrics.json", "resNet18.calibration.json"] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/zero/" + name, withDestinationPath: "/dev/zero")
        }
        let zeroFiles = try ModelFiles.find(weights: zeroWeights, classIndices: nil, imageSize: nil, resize: nil, source: source, verbose: false)
        XCTAssertEqual(zeroFiles.classIndices, "class_indices.json")
        XCTAssertNil(zeroFiles.transformSource)
        XCTAssertThrowsError(try Predictor.classNames(classes: 3, weights: zeroWeights, classIndices: dir + "/zero/class_indices.json", knownNames: nil)) {
            XCTAssertTrue("\($0)".contains("device"), "\($0)")
        }
        XCTAssertThrowsError(try CalibrationRun.read(forWeights: zeroWeights)) { XCTAssertTrue("\($0)".contains("device"), "\($0)") }
    }
}
