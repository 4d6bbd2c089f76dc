import Foundation
import TestSupport
import XCTest
@testable import Inference

/// evaluate's job (Evaluation.run) on Fixtures/trainset/train with Fixtures/evaluate's model,
/// against the same folder scored in PyTorch and scikit-learn (Fixtures/gen_evaluate.py).
final class EvaluationTests: XCTestCase {
    func predictor() throws -> Predictor {
        try Predictor(weights: FixturePaths.path("evaluate/model.pth"),
                      classIndices: FixturePaths.path("evaluate/class_indices.json"))
    }

    func testFixtureFolderMatchesPyTorchAndScikitLearn() throws {
        let e = try ClassificationReportTests.expected()
        let root = FixturePaths.path("trainset/train")
        var warnings: [String] = []
        let result = try Evaluation.run(dir: root, predictor: try predictor(), batchSize: 4) { warnings.append($0) }
        let relative = { (p: String) in String(p.dropFirst(root.count + 1)) }
        // The same images, in the same order, with the same labels and predictions.
        XCTAssertEqual(result.images.map(relative), try XCTUnwrap(e["images"] as? [String]))
        XCTAssertEqual(result.labels, try XCTUnwrap(e["labels"] as? [Int]))
        XCTAssertEqual(result.probabilities.map(ClassificationReport.argmax), try XCTUnwrap(e["predictions"] as? [Int]))
        let probabilities = try XCTUnwrap(e["probabilities"] as? [[Double]])
        XCTAssertEqual(result.probabilities.count, probabilities.count, "one row per image")
        for (got, want) in zip(result.probabilities, probabilities) {
            XCTAssertEqual(got.count, want.count, "one probability per class")
            for (a, b) in zip(got, want) { XCTAssertEqual(Double(a), b, accuracy: 1e-5) }
        }
        XCTAssertEqual(result.unreadable.map { relative($0.path) }, try XCTUnwrap(e["unreadable"] as? [String]))
        XCTAssertEqual(result.skipped.count, 1)
        XCTAssertTrue(result.skipped.first?.contains("notes.txt") == true, "\(result.skipped)")
        XCTAssertEqual(warnings.count, 3, "the skipped file, the count of files left out and the unreadable image: \(warnings)")
        XCTAssertTrue(warnings.contains("1 file left out: 1 not .jpg, .jpeg or .png"), "\(warnings)")
        // Counts exactly, ratios to 1e-6.
        XCTAssertEqual(result.report.confusion, try XCTUnwrap(e["confusion_matrix"] as? [[Int]]))
        try ClassificationReportTests.check(result.report, against: try XCTUnwrap(e["report"] as? [String: Any]))
        XCTAssertEqual(try XCTUnwrap(result.report.top5Accuracy), try XCTUnwrap(e["top5_accuracy"] as? Double), accuracy: 1e-6)
        XCTAssertTrue(result.text().contains(try XCTUnwrap(e["report_text"] as? String)))
        XCTAssertTrue(result.text().contains("1 unreadable"))
        let json = try XCTUnwrap(ExactJSON.object(with: Data(result.json().utf8)) as? [String: Any])
        XCTAssertEqual((json["unreadable"] as? [String])?.map(relative), ["roses/99_corrupt.jpg"])
    }

    /// A folder the model does not know: the error names it and lists both sets.
    func testUnknownFolderListsBothSets() throws {
        let dir = Scratch.root.appendingPathComponent("graft-eval-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["daisy", "lilies", ".hidden"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: FixturePaths.path("trainset/train/daisy/00.jpg"),
                                             toPath: dir.appendingPathComponent("\(name)/00.jpg").path)
        }
        let p = try predictor()
        XCTAssertThrowsError(try Evaluation.run(dir: dir.path, predictor: p, batchSize: 2)) { error in
            XCTAssertEqual(error as? Evaluation.Failure,
                           .unknownClasses(dir: dir.path, unknown: ["lilies"], folders: ["daisy", "lilies"], model: p.classNames))
            let message = "\(error)"
            XCTAssertTrue(message.contains("'lilies'"), message)
            XCTAssertTrue(message.contains("Folder classes: daisy, lilies."), message)
            XCTAssertTrue(message.contains("Model classes: sunflowers, tulips, cat, roses, dandelion, daisy, zebra."), message)
        }
        // Without the unknown folder: one class present, six with support 0.
        // Without the unknown folder: one class present, six with support 0 (one of them an empty
        // folder); a file beside the class folders is skipped with a warning.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("lilies"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("roses"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("loose.jpg"))
        var warnings: [String] = []
        let result = try Evaluation.run(dir: dir.path, predictor: p, batchSize: 2) { warnings.append($0) }
        XCTAssertEqual(result.labels, [5])
        XCTAssertEqual(result.report.perClass.map(\.support), [0, 0, 0, 0, 0, 1, 0])
        XCTAssertEqual(warnings.count, 3, "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.contains("loose.jpg: not in a class folder") }, "\(warnings)")
        XCTAssertTrue(warnings.contains("1 file left out: 1 not in a class folder"), "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.contains("class 'roses' has support 0") }, "\(warnings)")
    }

    func testFolderWithoutClassFoldersIsAnError() throws {
        XCTAssertThrowsError(try Evaluation.run(dir: FixturePaths.path("trainset/train/daisy"), predictor: try predictor(), batchSize: 2)) {
            XCTAssertEqual($0 as? Evaluation.Failure, .noClassFolders(dir: FixturePaths.path("trainset/train/daisy")))
        }
    }
}

/// class_indices.json that names two classes alike is refused (issue 19, item 13).
final class EvaluationClassNameTests: XCTestCase {
    func testDuplicateClassNamesAreRefusedNamingTheIndices() throws {
        let dir = try RawNameFolder("duplicates")
        defer { dir.remove() }
        for name in ["a", "b"] { dir.mkdir(dir.root + "/" + name) }
        XCTAssertThrowsError(try Evaluation.classFolders(dir.root, classNames: ["a", "b", "c", "a", "b", "a"], walk: FolderWalk())) { error in
            guard case .duplicateClassNames(let dups)? = error as? Evaluation.Failure else { return XCTFail("\(error)") }
            XCTAssertEqual(dups.map(\.name), ["a", "b"])
            XCTAssertEqual(dups.map(\.indices), [[0, 3, 5], [1, 4]])
            let message = "\(error)"
            XCTAssertTrue(message.contains("'a' at indices 0, 3, 5") && message.contains("'b' at indices 1, 4"), message)
        }
        XCTAssertNoThrow(try Evaluation.classFolders(dir.root, classNames: ["a", "b", "c"], walk: FolderWalk()))
    }
}
