import TestSupport
import CLISupport
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
}
