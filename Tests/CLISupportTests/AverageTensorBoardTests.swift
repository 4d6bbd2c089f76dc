import CLISupport
import FinetuneCommands
import Foundation
import TensorBoard
import TestSupport
import Training
import XCTest

/// `finetune --ema-decay --tensorboard DIR`: the weight average's val figures go to the event
/// file as ema/val_loss and ema/val_accuracy, the figures metrics.json records.
final class AverageTensorBoardTests: XCTestCase {
    func testTheAveragesFiguresAreLogged() throws {
        let dir = Scratch.root.appendingPathComponent("graft-emaboard-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let o = try FinetuneCommandOptions.parse([
            "--weights", FixturePaths.path("predict/basic.pth"), "--classes", "3", "--train", "fc", "--no-augment",
            "--epochs", "2", "--batch-size", "8", "--lr", "0.02", "--image-size", "32", "--resize", "36", "--seed", "11",
            "--ema-decay", "0.7", "--output", dir + "/resNet18.pth", "--class-indices", dir + "/class_indices.json",
            "--metrics", dir + "/metrics.json", "--tensorboard", dir + "/runs", FixturePaths.path("trainset"),
        ])
        let observe = try XCTUnwrap(try o.output.observer(log: { _ in }))
        let job = try FinetuneJob.prepare(o.config, output: o.output.output, resume: false, log: { _ in }, warn: { _ in })
        try observe(job.trainer)
        try job.run()
        let name = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir + "/runs").first { $0.hasPrefix("events.out.tfevents.") })
        let file = try EventFile(contentsOf: dir + "/runs/" + name)
        let epochs = job.trainer.history
        XCTAssertEqual(file.values("ema/val_accuracy").map(\.step), [1, 2])
        XCTAssertEqual(file.values("ema/val_accuracy").map(\.value), epochs.map { Float($0.emaValAccuracy!) })
        XCTAssertEqual(file.values("ema/val_loss").map(\.value), epochs.map { Float($0.emaValLoss!) })
    }
}
