import Checkpoint
import Foundation
import Models
import XCTest
@testable import Training

/// finetune's whole flow (FinetuneJob, as the executable runs it): everything checked before
/// any file is written, stale temporary files of killed runs removed, warnings apart from
/// progress, and a closing line that names only files that exist.
final class FinetuneJobTests: XCTestCase {
    let base = FinetuneTests.self

    /// The folder's files, less the run's lock file (`RunLock`: no output, it stays behind).
    func files(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0 != RunLock.fileName }.sorted()
    }

    func prepare(_ c: TrainConfig, output: String? = nil, resume: Bool = false, warnings: UnsafeMutablePointer<[String]>? = nil) throws -> FinetuneJob {
        try FinetuneJob.prepare(c, output: output ?? c.output, resume: resume, log: { _ in }, warn: { warnings?.pointee.append($0) })
    }

    func testNothingIsWrittenUntilEverythingIsChecked() throws {
        let dir = try base.workdir("job-checks")
        let good = base.config(dir, epochs: 1)

        var c = good                                     // output folder missing
        c.output = dir + "/missing/resNet18.pth"
        XCTAssertThrowsError(try prepare(c)) { XCTAssertTrue("\($0)".contains("does not exist"), "\($0)") }

        c = good                                         // the output is a folder
        try FileManager.default.createDirectory(atPath: dir + "/taken.pth", withIntermediateDirectories: false)
        c.output = dir + "/taken.pth"
        XCTAssertThrowsError(try prepare(c)) { XCTAssertTrue("\($0)".contains("it is a folder"), "\($0)") }

        c = good                                         // weights that are not a ResNet
        c.weights = FinetuneTests.fixtures.appendingPathComponent("checkpoints/views.pth").path
        XCTAssertThrowsError(try prepare(c))

        c = good                                         // unreadable weights
        c.weights = FinetuneTests.fixtures.appendingPathComponent("checkpoints/truncated_zip.pth").path
        XCTAssertThrowsError(try prepare(c))

        c = good                                         // data with the wrong class count
        c.classes = 4
        XCTAssertThrowsError(try prepare(c)) { XCTAssertTrue("\($0)".contains("daisy, roses, tulips"), "\($0)") }

        c = good                                         // --resume with nothing to resume
        XCTAssertThrowsError(try prepare(c, resume: true))

        c = good
        c.precision = "f16"
        XCTAssertThrowsError(try prepare(c)) { XCTAssertTrue("\($0)".contains("--precision"), "\($0)") }

        XCTAssertEqual(files(in: dir), ["taken.pth"], "no file written by a run that failed its checks")
        let job = try prepare(good)
        XCTAssertEqual(files(in: dir), ["taken.pth"], "prepare writes nothing (but its lock file)")
        try job.run()
        XCTAssertTrue(files(in: dir).contains("resNet18.pth"))
    }

    /// `--weights none` with a name that is no torchvision ResNet is refused before the data is
    /// read, naming the ten it could be; a fc-only run without weights is refused too.
    func testWithoutWeightsTheArchitectureMustBeKnown() throws {
        let dir = try base.workdir("job-arch")
        var c = base.config(dir, epochs: 1)
        c.weights = nil
        c.policy = .all
        c.architecture = "resnet99"
        XCTAssertThrowsError(try prepare(c)) {
            XCTAssertEqual($0 as? TrainingError, .unknownArchitecture("resnet99", known: Families.variantNames))
            XCTAssertTrue("\($0)".contains("wide_resnet101_2"), "\($0)")
        }
        c.architecture = "resnet18"
        c.policy = .fc
        XCTAssertThrowsError(try prepare(c)) { XCTAssertEqual($0 as? TrainingError, .headOnlyNeedsWeights) }
        XCTAssertEqual(files(in: dir), [])
    }

    /// Under the output folder's lock no other run writes there: the temporary files of the
    /// run's outputs are left by killed runs, whatever their pid (pids are reused), and
    /// `prepare` removes them; other files stay.
    func testStaleTemporaryFilesOfTheRunsOutputsAreRemovedOnly() throws {
        let dir = try base.workdir("job-stale")
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        defer { sleeper.terminate() }
        let live = sleeper.processIdentifier
        var dead: Int32 = 4_000_000                       // above any pid_max: no such process
        while kill(dead, 0) == 0 { dead += 1 }
        let stale = [".resNet18.pth.tmp-\(dead).Ab12Cd", ".resNet18.pth.tmp-\(dead)", ".resNet18.resume.pth.tmp-\(dead).x1",
                     ".metrics.json.tmp-\(dead)", ".class_indices.json.tmp-\(dead)", ".resNet18.pth.tmp-\(live).Zz"]
        let kept = [".other.pth.tmp-\(dead)", ".resNet18.pth.tmp-12ab", "notes.txt"]
        for name in stale + kept { XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(count: 1000)), name) }
        XCTAssertEqual(TemporaryFile.owner(of: ".resNet18.pth.tmp-\(dead).Ab12Cd", target: dir + "/resNet18.pth"), dead)
        XCTAssertNil(TemporaryFile.owner(of: ".resNet18.pth.tmp-12ab", target: "resNet18.pth"))
        let job = try prepare(base.config(dir, epochs: 1))
        let prepared = Set(files(in: dir))
        for name in stale { XCTAssertFalse(prepared.contains(name), name) }
        for name in kept { XCTAssertTrue(prepared.contains(name), name) }
        try job.run()
        let after = Set(files(in: dir))
        for name in kept { XCTAssertTrue(after.contains(name), name) }
        XCTAssertFalse(after.contains { $0.contains(".tmp-\(getpid())") }, "no temporary file of this run left: \(after)")
    }

    /// A one-epoch config on a copy of Fixtures/trainset in a fresh work folder (files in the
    /// copy can be removed to make them unreadable after the scan).
    func configOnACopyOfTheTrainset(_ name: String) throws -> TrainConfig {
        let dir = try base.workdir(name)
        var c = base.config(dir, epochs: 1)
        c.data = dir + "/data"
        try FileManager.default.copyItem(atPath: FinetuneTests.fixtures.appendingPathComponent("trainset").path, toPath: c.data)
        return c
    }

    func testUnreadableImagesAreWarningsNotProgressAndTheSummaryNamesWhatExists() throws {
        let c = try configOnACopyOfTheTrainset("job-warn")
        let data = c.data
        var warnings: [String] = [], lines: [String] = []
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { lines.append($0) }, warn: { warnings.append($0) })
        XCTAssertEqual(warnings.count, 3, "the text file, the corrupt JPEG and the count of files left out: \(warnings)")
        XCTAssertEqual(warnings.last, "2 files left out: 1 not .jpg, .jpeg or .png, 1 not usable images inside")
        XCTAssertTrue(lines.contains { $0.hasPrefix("using 30 images for training, 12 images for validation") }, "\(lines)")
        // An image that disappears after the scan fails at decoding time.
        try FileManager.default.removeItem(atPath: data + "/train/tulips/04.jpg")
        try job.run()
        XCTAssertEqual(warnings.count, 4, "\(warnings)")
        XCTAssertTrue(warnings.last?.contains("train/tulips/04.jpg") ?? false, "\(warnings)")
        XCTAssertFalse(lines.contains { $0.lowercased().contains("warning") || $0.contains("skipping") }, "\(lines)")
        XCTAssertEqual(job.trainer.unreadable.count, 1)
        XCTAssertEqual(job.trainer.savedEpoch, 1)
        XCTAssertTrue(job.summary.contains(c.output), job.summary)
        try FileManager.default.removeItem(atPath: c.output)
        XCTAssertFalse(job.summary.contains(c.output), "a file that is not there is not named: \(job.summary)")
    }

    /// train.py saves only on a strictly better accuracy than 0, so a run whose every epoch
    /// validates at 0 saved nothing yet named the file. The first epoch's model is saved.
    func testAModelIsSavedEvenWhenNoEpochValidatesAboveZero() throws {
        let dir = try base.workdir("job-zero")
        let data = dir + "/data"
        let fixtures = FinetuneTests.fixtures.appendingPathComponent("trainset").path
        try FileManager.default.copyItem(atPath: fixtures + "/train", toPath: data + "-train")
        try FileManager.default.createDirectory(atPath: data + "/val", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: data + "-train", toPath: data + "/train")
        // val: each class folder holds another class's images, so a model that learnt scores 0.
        for (folder, images) in [("daisy", "roses"), ("roses", "tulips"), ("tulips", "daisy")] {
            try FileManager.default.copyItem(atPath: fixtures + "/val/" + images, toPath: data + "/val/" + folder)
        }
        var c = base.config(dir, epochs: 2)
        c.data = data
        c.batchSize = 2                                  // 15 steps an epoch: learnt in the first
        let job = try prepare(c)
        try job.run()
        let accuracies = job.trainer.history.map { $0.valAccuracy }
        XCTAssertEqual(accuracies.max(), 0, "the scenario: \(accuracies)")
        XCTAssertEqual(job.trainer.savedEpoch, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: c.output))
        XCTAssertTrue(job.summary.contains("(epoch 1)"), job.summary)
    }

    /// A validation image that cannot be decoded is left out of validation and named as a val
    /// image: it used to be recorded under a training index (dropping an unrelated training
    /// image, or trapping when the index was past the training set).
    func testAnUnreadableValidationImageIsLeftOutOfValidationOnly() throws {
        var c = try configOnACopyOfTheTrainset("job-val-unreadable")
        c.augment = true  // no feature cache: validation decodes through the val loader
        var warnings: [String] = []
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { warnings.append($0) })
        let valImage = try XCTUnwrap(job.data.val.last?.path)
        try FileManager.default.removeItem(atPath: valImage)
        try job.run()
        XCTAssertTrue(job.trainer.unreadable.isEmpty, "no training image is lost: \(job.trainer.unreadable)")
        XCTAssertEqual(job.trainer.unreadableVal.count, 1)
        XCTAssertTrue(warnings.contains { $0.contains(valImage) }, "\(warnings)")
        let metrics = try String(contentsOfFile: c.metrics, encoding: .utf8)
        XCTAssertTrue(metrics.contains(valImage), metrics)
    }

    /// A diverged run (SGD with a huge learning rate) has NaN losses: metrics.json and the
    /// resume point are still written (NaN as Python's json writes it) and read back.
    func testADivergedRunStillWritesMetricsAndResumePoint() throws {
        let dir = try base.workdir("job-nan")
        var c = base.config(dir, epochs: 2)
        c.policy = .all
        // Weights overflow float32 at the first step (weight decay makes the update ~1e76).
        c.optimizer = OptimizerConfig(kind: .sgd, lr: 1e38, weightDecay: 1e38)
        let job = try prepare(c)
        try job.run()
        XCTAssertTrue(job.trainer.history.contains { !$0.trainLoss.isFinite || !$0.valLoss.isFinite }, "\(job.trainer.history)")
        let metrics = try String(contentsOfFile: c.metrics, encoding: .utf8)
        XCTAssertTrue(metrics.contains("NaN") || metrics.contains("Infinity"), metrics)
        XCTAssertEqual(try ResumeState.read(for: job.config).nextEpoch, 2)
    }

    /// The resume point's two files renamed one after the other: a run stopped between the
    /// renames leaves epoch 2's tensors beside epoch 1's JSON. --resume refuses the pair.
    func testAResumePointOfTwoDifferentEpochsIsRefused() throws {
        let dir = try base.workdir("job-resume-pair")
        let c = base.config(dir, epochs: 2)
        let job = try prepare(c)
        try job.trainer.run(from: 0, until: 1)
        let json = ResumeState.paths(for: job.config).json
        let epoch1 = try Data(contentsOf: URL(fileURLWithPath: json))
        try job.trainer.run(from: 1, until: 2)
        XCTAssertEqual(try ResumeState.read(for: job.config).nextEpoch, 2)
        try epoch1.write(to: URL(fileURLWithPath: json))
        XCTAssertThrowsError(try ResumeState.read(for: job.config)) {
            XCTAssertTrue("\($0)".contains("after epoch 2") && "\($0)".contains("after epoch 1"), "\($0)")
        }
    }
}
