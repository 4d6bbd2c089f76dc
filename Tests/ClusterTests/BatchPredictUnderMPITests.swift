import Foundation
import TestSupport
import XCTest

/// `mpirun -np N batch_predict DIR` prints and writes byte for byte what one process does: the
/// lines, JSON lines and CSV file, the warnings (a skipped file, an unreadable image) in the
/// same order, the same exit status; with fewer images than ranks too. A rank that fails ends
/// the job with its message, never a hang. With a fixed `--conv` (direct here): under the
/// default `auto` each process times its own shapes, and its choices can round differently.
final class BatchPredictUnderMPITests: XCTestCase {
    var folder: URL!
    let weights = FixturePaths.path("predict/basic.pth")
    let indices = FixturePaths.path("predict/class_indices.json")
    /// The arithmetic every run of these tests uses (see above).
    let conv = ["--conv", "direct"]

    override func setUpWithError() throws {
        folder = Scratch.root.appendingPathComponent("graft-mpi-predict-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    /// A folder `name` under the test's folder with these fixture images, plus `broken.jpg`
    /// (not an image inside) and `notes.txt` (skipped) when asked.
    func makeFolder(_ name: String, images: [String], broken: Bool) throws -> String {
        let dir = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for image in images {
            try FileManager.default.copyItem(at: FixturePaths.url("images/src/\(image)"), to: dir.appendingPathComponent(image))
        }
        if broken {
            try Data("this is not a JPEG".utf8).write(to: dir.appendingPathComponent("broken.jpg"))
            try Data("notes".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        }
        return dir.path
    }

    /// rank 0's line about its threads, which one process does not print.
    static func withoutThreadsLine(_ stderr: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) -> String {
        var lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let threads = lines.indices.filter { lines[$0].hasPrefix("batch_predict: \(ranks) processes, ") && lines[$0].contains(" thread") }
        XCTAssertEqual(threads.count, 1, "rank 0 prints its threads once: \(stderr)", file: file, line: line)
        threads.reversed().forEach { lines.remove(at: $0) }
        return lines.joined(separator: "\n")
    }

    func testOutputIsOneProcesssForTextJSONAndCSVWithAnUnreadableImage() throws {
        let images = ["jpeg_420.jpg", "jpeg_grey.jpg", "jpeg_exif6.jpg", "png_rgb.png", "png_palette.png", "png_tiny.png", "png_grey16.png"]
        let dir = try makeFolder("photos", images: images, broken: true)
        let exe = try ProcessRun.executable("batch_predict")
        for format in ["text", "json", "csv"] {
            func args(_ tag: String) -> [String] {
                let base = [dir, "--weights", weights, "--class-indices", indices, "--batch-size", "2"] + conv
                switch format {
                case "json": return base + ["--json"]
                case "csv": return base + ["--csv", folder.appendingPathComponent("\(tag).csv").path]
                default: return base
                }
            }
            let plain = try ProcessRun.run(exe, args("plain"), timeout: 60)
            XCTAssertEqual(plain.status, 0, plain.stderr)
            XCTAssertTrue(plain.stderr.contains("broken.jpg"), plain.stderr)
            XCTAssertTrue(plain.stderr.contains("notes.txt"), plain.stderr)
            XCTAssertTrue(plain.stderr.contains("1 of 8 images could not be read"), plain.stderr)
            if format == "csv" {
                XCTAssertEqual(plain.stdout, "")
            } else {
                XCTAssertEqual(plain.stdout.split(separator: "\n").count, images.count, plain.stdout)
            }
            for ranks in [2, 3] {
                let run = try ProcessRun.mpi(ranks: ranks, "batch_predict", args("np\(ranks)"), timeout: 90)
                XCTAssertFalse(run.timedOut, "\(format), -np \(ranks) hung")
                XCTAssertEqual(run.status, plain.status, "\(format), -np \(ranks): \(run.stderr)")
                XCTAssertEqual(run.stdout, plain.stdout, "\(format), -np \(ranks)")
                var expectedErr = plain.stderr
                if format == "csv" {
                    let a = try Data(contentsOf: folder.appendingPathComponent("plain.csv"))
                    let b = try Data(contentsOf: folder.appendingPathComponent("np\(ranks).csv"))
                    XCTAssertEqual(a, b, "the CSV files of one process and of -np \(ranks)")
                    XCTAssertEqual(String(decoding: a, as: UTF8.self).split(separator: "\n").count, images.count + 1)
                    expectedErr = expectedErr.replacingOccurrences(of: "plain.csv", with: "np\(ranks).csv")
                }
                XCTAssertEqual(Self.withoutThreadsLine(run.stderr, ranks: ranks), expectedErr, "\(format), -np \(ranks)")
            }
        }
    }

    func testFewerImagesThanRanksLeavesARankIdleAndTheOutputTheSame() throws {
        let dir = try makeFolder("two", images: ["jpeg_444.jpg", "png_rgba.png"], broken: false)
        let args = [dir, "--weights", weights, "--class-indices", indices, "--json"] + conv
        let plain = try ProcessRun.run(try ProcessRun.executable("batch_predict"), args, timeout: 60)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let run = try ProcessRun.mpi(ranks: 3, "batch_predict", args, timeout: 90)
        XCTAssertFalse(run.timedOut)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, plain.stdout)
        XCTAssertEqual(run.stdout.split(separator: "\n").count, 2)
        XCTAssertEqual(Self.withoutThreadsLine(run.stderr, ranks: 3), plain.stderr)
    }

    /// Nothing readable: every rank ends with one process's status (1) and the same warnings.
    func testNoReadableImageFailsAsOneProcessDoes() throws {
        let dir = try makeFolder("broken", images: [], broken: true)
        let args = [dir, "--weights", weights, "--class-indices", indices] + conv
        let plain = try ProcessRun.run(try ProcessRun.executable("batch_predict"), args, timeout: 60)
        XCTAssertEqual(plain.status, 1, plain.stderr)
        let run = try ProcessRun.mpi(ranks: 2, "batch_predict", args, timeout: 90)
        XCTAssertFalse(run.timedOut)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.stdout, "")
        // mpirun adds its own note about the non-zero status after ours.
        XCTAssertTrue(Self.withoutThreadsLine(run.stderr, ranks: 2).hasPrefix(plain.stderr), run.stderr)
    }

    /// Who predicted what: in an MPMD job whose rank 1 has other weights (same classes), the
    /// lines of batches 1, 3 ... are that model's and the others rank 0's, in listing order
    /// (5 images in batches of 2: rank 0 has images 0, 1 and 4, rank 1 images 2 and 3).
    func testRankROfNPredictsEveryNthImage() throws {
        let dir = try makeFolder("split", images: ["jpeg_420.jpg", "jpeg_grey.jpg", "png_rgb.png", "png_palette.png", "png_tiny.png"], broken: false)
        let other = FixturePaths.path("predict/bottleneck.pth")
        let exe = try ProcessRun.executable("batch_predict")
        func args(_ w: String) -> [String] { [dir, "--weights", w, "--class-indices", indices, "--json", "--batch-size", "2"] + conv }
        let basic = try ProcessRun.run(exe, args(weights), timeout: 60).stdout.split(separator: "\n")
        let bottleneck = try ProcessRun.run(exe, args(other), timeout: 60).stdout.split(separator: "\n")
        XCTAssertEqual(basic.count, 5)
        XCTAssertTrue(zip(basic, bottleneck).allSatisfy { $0 != $1 }, "the two models differ on every image")
        let run = try ProcessRun.run(try ProcessRun.mpirun(),
                                     ProcessRun.mpirunArguments(ranks: 1, executable: exe, arguments: args(weights))
                                         + [":", "-np", "1", exe.path] + args(other), timeout: 90)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertEqual(lines, (0..<5).map { ($0 / 2) % 2 == 0 ? basic[$0] : bottleneck[$0] })
    }

    /// Rank 1 of an MPMD job is given weights that do not exist: it fails while rank 0 waits for
    /// it; the job ends with rank 1's message instead of hanging.
    func testALibraryErrorOnOneRankEndsTheJobWithItsMessage() throws {
        let dir = try makeFolder("some", images: ["jpeg_420.jpg", "png_rgb.png", "jpeg_grey.jpg"], broken: false)
        let exe = try ProcessRun.executable("batch_predict")
        let missing = folder.appendingPathComponent("nowhere/model.pth").path
        let args = ProcessRun.mpirunArguments(ranks: 1, executable: exe, arguments: [dir, "--weights", weights, "--class-indices", indices])
            + [":", "-np", "1", exe.path, dir, "--weights", missing, "--class-indices", indices]
        let run = try ProcessRun.run(try ProcessRun.mpirun(), args, timeout: 90)
        XCTAssertFalse(run.timedOut, "the job hung instead of aborting")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("batch_predict: rank 1 of 2: There is no file at \(missing)."), run.stderr)
        XCTAssertEqual(run.stdout, "", "no results after a rank failed")
    }
}
