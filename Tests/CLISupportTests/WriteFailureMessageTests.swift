import CLISupport
import FinetuneCommands
import Foundation
import TensorBoard
import TestSupport
import Training
import XCTest

/// Errors a user causes by naming a place Graft cannot write say what, where and what to do,
/// in Graft's words: Foundation's ("The file doesn't exist.", "The operation could not be
/// completed") used to reach the user. Tests run as root, so the unwritable places are /proc
/// (no new files or folders there) and files standing where folders should be.
final class WriteFailureMessageTests: XCTestCase {
    func workdir(_ name: String) throws -> String {
        let dir = Scratch.root.appendingPathComponent("graft-wfm-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Foundation's wording, which must never reach the user.
    func assertGraftWords(_ error: Error, naming path: String, file: StaticString = #filePath, line: UInt = #line) {
        let message = "\(error)"
        for foundation in ["doesn’t exist", "doesn't exist", "could not be completed", "NSCocoaErrorDomain", "Error Domain"] {
            XCTAssertFalse(message.contains(foundation), message, file: file, line: line)
        }
        XCTAssertTrue(message.contains(path), "names \(path): \(message)", file: file, line: line)
    }

    /// `--tensorboard /proc/x`: /proc passes the folder check (root may write there), but no
    /// folder can be made in it.
    func testATensorBoardFolderThatCannotBeMade() throws {
        let board = "/proc/graft-\(getpid())/board"
        XCTAssertNoThrow(try TensorBoardLog.check(board))
        XCTAssertThrowsError(try TensorBoardLog(directory: board)) { error in
            XCTAssertEqual(error as? TensorBoardError, .cannotCreate(path: "/proc/graft-\(getpid())", why: "no such file or directory"))
            self.assertGraftWords(error, naming: "/proc/graft-\(getpid())")
            XCTAssertTrue("\(error)".contains("Choose a --tensorboard folder you can write to"), "\(error)")
        }
        // As finetune meets it: the observer made from the options fails before training.
        let o = try FinetuneCommandOptions.parse(["--weights", "w.pth", "--classes", "2", "--tensorboard", board, "data"])
        let observe = try XCTUnwrap(try o.output.observer(log: { _ in }))
        let c = Self.config(try workdir("tb-proc"))
        let trainer = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in }).trainer
        XCTAssertThrowsError(try observe(trainer)) { self.assertGraftWords($0, naming: "/proc/graft-\(getpid())") }
    }

    /// A file where the --tensorboard folder, or a folder above it, should be.
    func testATensorBoardFolderThatIsAFile() throws {
        let dir = try workdir("tb-file")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/plain", contents: Data()))
        for board in [dir + "/plain", dir + "/plain/board"] {
            XCTAssertThrowsError(try TensorBoardLog(directory: board)) {
                XCTAssertEqual($0 as? TensorBoardError, .notADirectory(path: dir + "/plain"))
                self.assertGraftWords($0, naming: dir + "/plain")
            }
        }
    }

    /// finetune's outputs: a folder that is a file, and /proc, where nothing can be made.
    func testFinetuneOutputsThatCannotBeWritten() throws {
        let dir = try workdir("ft-out")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/plain", contents: Data()))
        var c = Self.config(dir)
        c.metrics = dir + "/plain/metrics.json"
        XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })) {
            XCTAssertEqual($0 as? TrainingError, .cannotWrite(path: dir + "/plain/metrics.json", .folderIsAFile(folder: dir + "/plain")))
            self.assertGraftWords($0, naming: dir + "/plain")
            XCTAssertTrue("\($0)".contains("Choose a writable folder"), "\($0)")
        }
        c = Self.config(dir)
        c.output = "/proc/resNet18.pth"
        XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })) {
            self.assertGraftWords($0, naming: "/proc/")
            XCTAssertTrue("\($0)".contains("choose a folder"), "\($0)")
        }
    }

    /// `batch_predict --csv` into a folder that cannot hold it: refused before any image is
    /// read, and, should the write fail at the end all the same, in Graft's words too.
    func testACSVFileThatCannotBeWritten() throws {
        let dir = try workdir("csv")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/plain", contents: Data()))
        let cases: [(String, String)] = [(dir + "/missing/p.csv", "its folder \(dir)/missing does not exist"),
                                         (dir + "/plain/p.csv", "\(dir)/plain is a file, not a folder"), (dir, "it is a folder")]
        for (path, why) in cases {
            XCTAssertThrowsError(try OutputFile.check(path, option: "--csv")) {
                XCTAssertEqual($0 as? OutputFile.Failure, .cannotWrite(option: "--csv", path: path, reason: why))
            }
        }
        XCTAssertThrowsError(try OutputFile.write(Array("a\n".utf8), to: "/proc/graft.csv", option: "--csv")) {
            XCTAssertEqual($0 as? OutputFile.Failure, .cannotWrite(option: "--csv", path: "/proc/graft.csv", reason: "no such file or directory"))
            XCTAssertEqual("\($0)", "--csv /proc/graft.csv: cannot write it: no such file or directory. "
                           + "Give --csv a file in a folder that exists and that you can write to.")
        }
        try OutputFile.write(Array("a\n".utf8), to: dir + "/ok.csv", option: "--csv")
        XCTAssertEqual(try String(contentsOfFile: dir + "/ok.csv", encoding: .utf8), "a\n")

        let run = try ProcessRun.run(try ProcessRun.executable("batch_predict"), [
            FixturePaths.path("trainset/val/daisy"), "--weights", FixturePaths.path("predict/basic.pth"),
            "--class-indices", FixturePaths.path("predict/class_indices.json"), "--conv", "direct", "--csv", "/proc/graft-\(getpid()).csv",
        ], timeout: 60)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("batch_predict: --csv /proc/graft-\(getpid()).csv: cannot write it: no such file or directory."), run.stderr)
        XCTAssertFalse(run.stderr.contains("doesn’t exist") || run.stderr.contains("could not be completed"), run.stderr)
    }

    /// demo_data's image folder under a file, or under /proc.
    func testADemoFolderThatCannotBeMade() throws {
        let dir = try workdir("demo")
        // The smallest IDX pair: one 2x2 image of class 5 for train and for t10k.
        for prefix in ["train", "t10k"] {
            try Data([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 10, 20, 30, 40]).write(to: URL(fileURLWithPath: "\(dir)/\(prefix)-images-idx3-ubyte"))
            try Data([0, 0, 8, 1, 0, 0, 0, 1, 5]).write(to: URL(fileURLWithPath: "\(dir)/\(prefix)-labels-idx1-ubyte"))
        }
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/plain", contents: Data()))
        func write(to output: String) throws {
            try FashionMNISTFolder.write(idx: dir, classes: [5], trainPerClass: 1, valPerClass: 1, to: output, log: { _ in })
        }
        XCTAssertThrowsError(try write(to: dir + "/plain/out")) {
            XCTAssertEqual($0 as? FashionMNISTFolder.Failure, .cannotMakeFolder(path: dir + "/plain/out", reason: "\(dir)/plain is a file, not a folder"))
        }
        XCTAssertThrowsError(try write(to: "/proc/graft-demo-\(getpid())")) {
            XCTAssertEqual($0 as? FashionMNISTFolder.Failure, .cannotMakeFolder(path: "/proc/graft-demo-\(getpid())", reason: "no such file or directory"))
            XCTAssertTrue("\($0)".contains("Give demo_data an output folder you can write to"), "\($0)")
        }
        try write(to: dir + "/ok")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/ok/train/sandal/00000.jpg"))
    }

    /// A one-epoch head-only run on Fixtures/trainset with its outputs in `dir`.
    static func config(_ dir: String) -> TrainConfig {
        var c = TrainConfig(data: FixturePaths.path("trainset"), classes: 3)
        c.weights = FixturePaths.path("predict/basic.pth")
        c.policy = .fc
        c.epochs = 1
        c.imageSize = 32
        c.resize = 36
        c.augment = false
        c.conv = .direct
        c.output = dir + "/resNet18.pth"
        c.classIndices = dir + "/class_indices.json"
        c.metrics = dir + "/metrics.json"
        return c
    }
}

/// A write that fails once the run has started (here: metrics.json's place taken by a folder
/// after the checks) says what to do, where CheckpointError's bare "cannot write" said nothing.
final class MidRunWriteFailureTests: XCTestCase {
    func testAnOutputThatCannotBeWrittenMidRunSaysHowToContinue() throws {
        let dir = Scratch.root.appendingPathComponent("graft-wfm-\(getpid())-midrun").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let c = WriteFailureMessageTests.config(dir)
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })
        try FileManager.default.createDirectory(atPath: c.metrics, withIntermediateDirectories: false)
        XCTAssertThrowsError(try job.run()) {
            XCTAssertEqual($0 as? TrainingError, .cannotSave(path: c.metrics, reason: "is a directory"))
            XCTAssertTrue("\($0)".hasPrefix("cannot write \(c.metrics): is a directory. "), "\($0)")
            XCTAssertTrue("\($0)".contains("then run the same command with --resume"), "\($0)")
        }
        XCTAssertNoThrow(try RunLock(folder: dir), "a failed run lets its folder go")
    }
}
