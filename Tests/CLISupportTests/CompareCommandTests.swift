import Checkpoint
import Foundation
import Models
import TestSupport
import XCTest

/// `graft compare`: two tiny models (a MobileNet v3 small and a VGG11-bn from torch.save files)
/// fine-tuned with the same recipe, each in its folder as finetune writes it; the table,
/// compare.json, compare.html; a rerun continues (a finished comparison is not trained again, an
/// unfinished model resumes); other settings in the same folder and per-model options are refused.
final class CompareCommandTests: XCTestCase {
    let mobilenet = FixturePaths.path("mobilenet/predict/tiny_mobilenet_v3_small.pth")
    let vgg = FixturePaths.path("vgg/predict/tiny_vgg11_bn.pth")

    func compare(_ extra: [String], in dir: URL, epochs: Int = 2) throws -> ProcessRun.Result {
        let args = ["compare", "--weights", "\(mobilenet),\(vgg)", "--classes", "3", "--image-size", "32", "--resize", "36",
                    "--epochs", String(epochs), "--batch-size", "8", "--seed", "3", "--workers", "1", "--conv", "direct"]
            + extra + [FixturePaths.path("trainset")]
        return try ProcessRun.run(try ProcessRun.executable("graft"), args, currentDirectory: dir, timeout: 300)
    }

    struct Entry: Decodable {
        let weights: String, model: String, folder: String, file: String
        let best_val_accuracy: Double, epochs: Int, inference_images_per_second: Double, latency_milliseconds: Double
        let parameters: Int, file_bytes: Int
    }

    func testTwoModelsEachInTheirFolderAndOneTable() throws {
        let dir = try scratchFolder("compare", "two")
        let r = try compare(["--json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let entries = try JSONDecoder().decode([Entry].self, from: Data(r.stdout.utf8))
        XCTAssertEqual(entries.map(\.model), ["mobilenet_v3_small", "vgg11_bn"])
        XCTAssertEqual(entries.map(\.folder), ["compare/tiny_mobilenet_v3_small", "compare/tiny_vgg11_bn"])
        for e in entries {
            let folder = dir.appendingPathComponent(e.folder)
            for f in ["class_indices.json", "metrics.json", "report.html", e.model + ".pth"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(f).path), "\(e.folder)/\(f)")
            }
            XCTAssertEqual(e.file, "\(e.folder)/\(e.model).pth")
            XCTAssertEqual(e.epochs, 2)
            XCTAssertTrue((0...1).contains(e.best_val_accuracy))
            XCTAssertGreaterThan(e.inference_images_per_second, 0)
            XCTAssertGreaterThan(e.latency_milliseconds, 0)
            // Weights and biases of the fine-tuned model, not its running statistics.
            let sd = try Checkpoint(contentsOf: folder.appendingPathComponent(e.model + ".pth").path).stateDict
            let counted = sd.items.filter { $0.key.hasSuffix(".weight") || $0.key.hasSuffix(".bias") }.map { $0.value.shape.reduce(1, *) }.reduce(0, +)
            XCTAssertEqual(e.parameters, counted, e.model)
            XCTAssertEqual(e.file_bytes, (try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(e.model + ".pth").path)[.size] as? Int))
        }
        let html = try String(contentsOf: dir.appendingPathComponent("compare/compare.html"), encoding: .utf8)
        for part in ["<section id=\"table\">", "id=\"chart-accuracy\"", "id=\"confusion-1\"", "id=\"confusion-2\"", "mobilenet_v3_small", "vgg11_bn", "<svg"] {
            XCTAssertTrue(html.contains(part), part)
        }
        XCTAssertFalse(html.contains("<script"), "no scripts")

        // The same command again: everything is done; nothing trains, the same table.
        let again = try compare(["--json"], in: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try JSONDecoder().decode([Entry].self, from: Data(again.stdout.utf8)).map(\.best_val_accuracy), entries.map(\.best_val_accuracy))
        XCTAssertFalse(again.stderr.contains("[epoch") || again.stdout.contains("[epoch"), "nothing trains again")
        XCTAssertTrue(r.stderr.contains("== 1 of 2") && !r.stdout.contains("== 1 of 2"), "with --json the runs' lines go to standard error")

        // Other settings in the same folder are refused, naming it.
        let other = try compare([], in: dir, epochs: 3)
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.stderr.contains("compare holds a comparison with other settings"), other.stderr)
    }

    /// Killed during its second model: the rerun keeps the first (not trained again, its files
    /// untouched) and resumes the second from its last finished epoch; the table has both.
    func testARerunResumesTheModelItWasOn() throws {
        let dir = try scratchFolder("compare", "resume")
        let args = ["compare", "--weights", "\(mobilenet),\(vgg)", "--classes", "3", "--image-size", "32", "--resize", "36",
                    "--epochs", "6", "--batch-size", "8", "--seed", "3", "--workers", "1", "--conv", "direct", FixturePaths.path("trainset")]
        let p = Process()
        p.executableURL = try ProcessRun.executable("graft")
        p.arguments = args
        p.currentDirectoryURL = dir
        p.environment = ProcessInfo.processInfo.environment.merging(["GRAFT_CONV_CACHE": "off"]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // The second model's resume point appears after its first epoch: kill the run then.
        let resumePoint = dir.appendingPathComponent("compare/tiny_vgg11_bn/vgg11_bn.resume.json").path
        let deadline = Date().addingTimeInterval(240)
        while p.isRunning && !FileManager.default.fileExists(atPath: resumePoint) && Date() < deadline { usleep(5_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try XCTSkipUnless(FileManager.default.fileExists(atPath: resumePoint), "the run ended before it could be interrupted")
        let firstMetrics = dir.appendingPathComponent("compare/tiny_mobilenet_v3_small/metrics.json")
        let before = try Data(contentsOf: firstMetrics)

        let r = try ProcessRun.run(try ProcessRun.executable("graft"), args, currentDirectory: dir, timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("continuing the comparison in compare: 1 of 2 models done"), r.stdout)
        XCTAssertTrue(r.stdout.contains("2 of 2: \(vgg), in compare/tiny_vgg11_bn/ (continuing its interrupted run)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("; resuming at epoch "), r.stdout)
        XCTAssertFalse(r.stdout.contains("1 of 2:"), "the first model is not trained again")
        XCTAssertEqual(try Data(contentsOf: firstMetrics), before)
        XCTAssertTrue(r.stdout.contains("mobilenet_v3_small") && r.stdout.contains("vgg11_bn"), r.stdout)
        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("compare/tiny_vgg11_bn/metrics.json"))) as? [String: Any])
        XCTAssertEqual((metrics["epochs"] as? [Any])?.count, 6, "the resumed run's figures are whole")
    }

    /// Under `mpirun -np 2` each model trains data-parallel on both processes, one after another:
    /// the same folders and table, written and printed once (rank 0).
    func testUnderMPIRun() throws {
        let dir = try scratchFolder("compare", "mpi")
        let args = ["compare", "--weights", "\(mobilenet),\(vgg)", "--classes", "3", "--image-size", "32", "--resize", "36",
                    "--epochs", "1", "--batch-size", "4", "--seed", "3", "--workers", "1", "--conv", "direct", "--json", FixturePaths.path("trainset")]
        let r = try ProcessRun.run(try ProcessRun.mpirun(),
                                   ProcessRun.mpirunArguments(ranks: 2, executable: try ProcessRun.executable("graft"), arguments: args),
                                   currentDirectory: dir, timeout: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        let entries = try JSONDecoder().decode([Entry].self, from: Data(r.stdout.utf8))
        XCTAssertEqual(entries.map(\.model), ["mobilenet_v3_small", "vgg11_bn"])
        XCTAssertTrue(r.stderr.contains("data-parallel: 2 processes"), r.stderr)
        for e in entries { XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(e.file).path), e.file) }
    }

    /// Hostile: compare.json is a file anyone may have edited. Garbage, a truncated record,
    /// another format and a finished model whose folder is gone are each refused with the
    /// file named and what to do; nothing trains.
    func testADamagedRecordIsRefused() throws {
        let dir = try scratchFolder("compare", "damaged")
        let folder = dir.appendingPathComponent("compare")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let record = folder.appendingPathComponent("compare.json")
        XCTAssertEqual(try compare([], in: dir, epochs: 1).status, 0)
        let good = try Data(contentsOf: record)
        for (bytes, why) in [(Data("garbage\u{0}\u{1}".utf8), "not a compare.json"), (good.prefix(good.count / 2), "not a compare.json"),
                             (Data(String(decoding: good, as: UTF8.self).replacingOccurrences(of: "\"graft-compare\"", with: "\"other\"").utf8), "format other")] {
            try bytes.write(to: record)
            let r = try compare([], in: dir, epochs: 1)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("compare/compare.json is not a comparison record Graft can continue (\(why)"), r.stderr)
            XCTAssertFalse(r.stdout.contains("[epoch"), "nothing trains")
        }
        // The record as it was, but the first model's folder removed: its figures cannot be read.
        try good.write(to: record)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tiny_mobilenet_v3_small"))
        let r = try compare([], in: dir, epochs: 1)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("tiny_mobilenet_v3_small/metrics.json is missing or not a finished run's metrics.json"), r.stderr)
    }

    func testPerModelOptionsAndBadListsAreRefused() throws {
        let dir = try scratchFolder("compare", "refused")
        for (extra, message) in [(["--output", "m.pth"], "--output is per model"), (["--resume"], "continues an interrupted comparison by itself"),
                                 (["--metrics", "x.json"], "--metrics is per model")] {
            let r = try compare(extra, in: dir)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains(message), "\(extra): \(r.stderr)")
        }
        let twice = try ProcessRun.run(try ProcessRun.executable("graft"),
                                       ["compare", "--weights", "\(vgg),\(vgg)", "--classes", "3", FixturePaths.path("trainset")], currentDirectory: dir)
        XCTAssertNotEqual(twice.status, 0)
        XCTAssertTrue(twice.stderr.contains("names \(vgg) twice"), twice.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("compare").path), "nothing written")
    }
}
