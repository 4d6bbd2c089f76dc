import Foundation
import TestSupport
import XCTest

/// What the family command tests share: predict on the image files of
/// `Fixtures/<family>/predict` against torchvision's probabilities, and a short finetune.
enum FamilyCommandChecks {
    struct Expected: Decodable {
        let models: [String: [String: [String: Row]]]
        /// Each transform's sizes (Resize, CenterCrop), where the file says.
        let transforms: [String: Sizes]?
    }
    struct Sizes: Decodable { let resize: Int; let crop: Int }
    struct Row: Decodable { let probs: [Float] }

    static func expected(_ family: String, _ model: String) throws -> [String: [String: Row]] {
        try XCTUnwrap(try expectedFile(family).models[model])
    }

    static func expectedFile(_ family: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: FixturePaths.url("\(family)/predict/expected.json")))
    }

    /// `predict --json` on every image of each transform's rows (`--interpolation` where given)
    /// within 1e-5 of torchvision's probabilities; the count of images compared.
    static func predictMatchesTorchvision(_ family: String, _ model: String, transforms: [(key: String, interpolation: String?)],
                                          file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let dir = FixturePaths.url("\(family)/predict")
        let byTransform = try expected(family, model)
        let sizes = try expectedFile(family).transforms ?? [:]
        var compared = 0
        for (transform, interpolation) in transforms {
            let rows = try XCTUnwrap(byTransform[transform], file: file, line: line)
            XCTAssertGreaterThanOrEqual(rows.count, 6, file: file, line: line)
            // Sizes other than predict's default 256/224 (ConvNeXt's 236/224).
            var sizeArguments: [String] = []
            if let z = sizes[transform], z.resize != 256 || z.crop != 224 { sizeArguments = ["--resize", "\(z.resize)", "--image-size", "\(z.crop)"] }
            for (image, row) in rows.sorted(by: { $0.key < $1.key }) {
                let r = try ProcessRun.run(try ProcessRun.executable("predict"),
                                           ["--weights", dir.appendingPathComponent("\(model).pth").path,
                                            "--class-indices", dir.appendingPathComponent("class_indices.json").path]
                                           + (interpolation.map { ["--interpolation", $0] } ?? []) + sizeArguments
                                           + ["--json", FixturePaths.path("images/src/\(image)")])
                XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
                struct Out: Decodable { let probs: [Float] }
                let got = try JSONDecoder().decode(Out.self, from: Data(r.stdout.utf8))
                XCTAssertLessThanOrEqual(maxAbsError(got.probs, row.probs), 1e-5, "\(transform) \(image)", file: file, line: line)
                compared += 1
            }
        }
        return compared
    }

    /// finetune from `weights` on Fixtures/trainset at 32x32, one epoch, with `args`, in `dir`;
    /// its output and errors.
    static func finetune(_ weights: String, _ args: [String], in dir: URL, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let all = ["--weights", weights, "--classes", "3", "--image-size", "32", "--resize", "36", "--epochs", "1",
                   "--batch-size", "8", "--seed", "3", "--workers", "1"] + args + [FixturePaths.path("trainset")]
        let r = try ProcessRun.run(try ProcessRun.executable("finetune"), all, currentDirectory: dir)
        XCTAssertFalse(r.timedOut, r.stderr, file: file, line: line)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return r.stdout + r.stderr
    }

    /// In the folder finetune wrote: predict and evaluate read its model as they read a ResNet.
    static func predictAndEvaluateReadIt(in dir: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let image = FixturePaths.path("images/src/jpeg_420.jpg")
        let p = try ProcessRun.run(try ProcessRun.executable("predict"), ["--json", image], currentDirectory: dir)
        XCTAssertEqual(p.status, 0, p.stderr, file: file, line: line)
        XCTAssertTrue(p.stdout.contains("\"probs\""), p.stdout, file: file, line: line)
        let e = try ProcessRun.run(try ProcessRun.executable("evaluate"), ["--json", FixturePaths.path("trainset/val")], currentDirectory: dir)
        XCTAssertEqual(e.status, 0, e.stderr, file: file, line: line)
        XCTAssertTrue(e.stdout.contains("\"accuracy\""), e.stdout, file: file, line: line)
    }

    /// `finetune --train last --last-stages N` beyond the model's stages is refused with `message`.
    static func lastStagesRefused(_ weights: String, _ stages: Int, in dir: URL, message: String,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let all = ["--weights", weights, "--classes", "3", "--train", "last", "--last-stages", "\(stages)", FixturePaths.path("trainset")]
        let r = try ProcessRun.run(try ProcessRun.executable("finetune"), all, currentDirectory: dir)
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), r.stderr, file: file, line: line)
    }
}
