import CLISupport
import FinetuneCommands
import Foundation
import TensorBoard
import TestSupport
import Training
import XCTest

/// `finetune --tensorboard DIR` end to end: a tiny fine-tune (the head of
/// Fixtures/predict/basic.pth on Fixtures/trainset, as FinetuneTests trains it) writes an event
/// file whose records parse and whose figures are metrics.json's.
final class TensorBoardFinetuneTests: XCTestCase {
    func workdir(_ name: String) throws -> String {
        let dir = Scratch.root.appendingPathComponent("graft-tbft-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func options(_ dir: String, board: String, epochs: Int = 2, resume: Bool = false) throws -> FinetuneCommandOptions {
        try FinetuneCommandOptions.parse([
            "--weights", FixturePaths.path("predict/basic.pth"), "--classes", "3", "--train", "fc", "--no-augment",
            "--epochs", "\(epochs)", "--batch-size", "8", "--lr", "0.02", "--image-size", "32", "--resize", "36", "--seed", "11",
            "--output", dir + "/resNet18.pth", "--class-indices", dir + "/class_indices.json", "--metrics", dir + "/metrics.json",
            "--tensorboard", board, FixturePaths.path("trainset"),
        ] + (resume ? ["--resume"] : []))
    }

    /// The job as finetune runs it, with its --tensorboard observer; `until` stops after that
    /// epoch, as an interrupted run would.
    func run(_ o: FinetuneCommandOptions, until: Int? = nil) throws -> Trainer {
        let observe = try XCTUnwrap(try o.output.observer(log: { _ in }))
        let job = try FinetuneJob.prepare(o.config, output: o.output.output, resume: o.output.resume, log: { _ in }, warn: { _ in })
        try observe(job.trainer)
        try job.run(until: until)
        return job.trainer
    }

    func eventFiles(_ board: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: board).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
            .map { (board as NSString).appendingPathComponent($0) }
    }

    func testWritesTheFiguresOfMetricsJSON() throws {
        let dir = try workdir("run")
        let board = dir + "/runs/first"                       // made, with its parent
        let trainer = try run(try options(dir, board: board))
        let files = try eventFiles(board)
        XCTAssertEqual(files.count, 1)
        let file = try EventFile(contentsOf: files[0])
        XCTAssertEqual(file.fileVersion, "brain.Event:2")

        let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json"))) as? [String: Any])
        let epochs = try XCTUnwrap(metrics["epochs"] as? [[String: Any]])
        XCTAssertEqual(epochs.count, 2)
        // The figures read with JSONDecoder, which reads back exactly the Double JSONEncoder wrote.
        // (JSONSerialization on Linux reads a 17-digit number an ulp off about half the time,
        // and now and then that ulp moved the Float a step: a test that failed by chance.)
        struct Epoch: Decodable { let val_accuracy: Double, val_loss: Double, lr: Double }
        struct Figures: Decodable { let epochs: [Epoch] }
        let exact = try JSONDecoder().decode(Figures.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json"))).epochs
        func figures(_ key: String) -> [Float] {
            exact.map { Float(key == "val_accuracy" ? $0.val_accuracy : key == "val_loss" ? $0.val_loss : $0.lr) }
        }
        XCTAssertEqual(file.values("val/accuracy").map(\.step), [1, 2])
        XCTAssertEqual(file.values("val/accuracy").map(\.value), figures("val_accuracy"))
        XCTAssertEqual(file.values("val/loss").map(\.value), figures("val_loss"))
        XCTAssertEqual(file.values("lr").map(\.value), figures("lr"))

        let steps = file.values("train/loss")
        XCTAssertEqual(trainer.globalStep, 2 * Int((Double(trainer.data.train.count) / 8).rounded(.up)))
        XCTAssertEqual(steps.map(\.step), Array(1...Int64(trainer.globalStep)))
        XCTAssertTrue(steps.allSatisfy { $0.value.isFinite && $0.value > 0 })
        // Each step's loss is the batch's (a Float, so exact in the file): the epoch's train
        // loss in metrics.json is their mean weighted by batch size.
        let n = trainer.data.train.count, perEpoch = trainer.globalStep / 2
        for epoch in 0..<2 {
            var sum = 0.0
            for (b, s) in steps[(epoch * perEpoch)..<((epoch + 1) * perEpoch)].enumerated() {
                sum += Double(s.value) * Double(min(8, n - 8 * b))
            }
            XCTAssertEqual(sum / Double(n), trainer.history[epoch].trainLoss, accuracy: 1e-12)
        }
    }

    /// With --resume the steps go on from where the interrupted run stopped, in a new file.
    func testResumeContinuesTheGlobalStep() throws {
        let dir = try workdir("resume")
        let board = dir + "/board"
        let first = try run(try options(dir, board: board, epochs: 3), until: 1)
        let afterOne = first.globalStep
        XCTAssertGreaterThan(afterOne, 0)
        let resumed = try run(try options(dir, board: board, epochs: 3, resume: true))
        XCTAssertEqual(resumed.globalStep, 3 * afterOne)
        var files: [EventFile] = []
        for path in try eventFiles(board) { files.append(try EventFile(contentsOf: path)) }
        XCTAssertEqual(files.count, 2)
        let steps = files.flatMap { $0.values("train/loss").map(\.step) }.sorted()
        XCTAssertEqual(steps, Array(1...Int64(3 * afterOne)), "every step once, across the two files")
        XCTAssertEqual(files.flatMap { $0.values("val/accuracy").map(\.step) }.sorted(), [1, 2, 3])
    }

    /// A --tensorboard that cannot hold the file fails before anything is trained or written.
    func testAFileAsTheFolderFailsFirst() throws {
        let dir = try workdir("bad")
        let plain = dir + "/plain"
        XCTAssertTrue(FileManager.default.createFile(atPath: plain, contents: Data()))
        let o = try options(dir, board: plain)
        XCTAssertThrowsError(try o.output.observer(log: { _ in })) {
            XCTAssertEqual($0 as? TensorBoardError, .notADirectory(path: plain))
            XCTAssertTrue("\($0)".contains("--tensorboard"))
        }
        XCTAssertNil(try (try FinetuneCommandOptions.parse(["--weights", "w.pth", "--classes", "2", "d"])).output.observer(log: { _ in }))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/metrics.json"))
    }
}
