import Foundation
import Imaging
import Random
import TestSupport
import XCTest
@testable import Training

/// `--auto-augment`, `--ra-*`, `--color-jitter`, `--rotation`, `--random-erase` in a run
/// (Fixtures/trainset, the fc head on a frozen trunk): the batches are the images torchvision's
/// reference order gives, each option runs and is recorded in metrics.json and report.html, and a
/// run interrupted at an epoch boundary resumes to the uninterrupted run's weights.
final class AugmentedFinetuneTests: XCTestCase {
    func job(_ c: TrainConfig, resume: Bool = false, report: ReportWriter? = nil) throws -> FinetuneJob {
        try FinetuneJob.prepare(c, output: c.output, resume: resume, report: report, log: { _ in }, warn: { _ in })
    }

    static let cases: [(String, Augmentation)] = [
        ("ta_wide", Augmentation(autoAugment: .taWide)),
        ("ra", Augmentation(autoAugment: .ra, raMagnitude: 14, raNumOps: 3)),
        ("imagenet", Augmentation(autoAugment: .imagenet)),
        ("jitter", Augmentation(colorJitter: [0.4, 0.4, 0.4, 0.1])),
        ("rotation", Augmentation(rotation: 20)),
        ("erase", Augmentation(randomErase: 0.5)),
        ("all", Augmentation(autoAugment: .ra, colorJitter: [0.3], rotation: 10, randomErase: 0.25)),
    ]

    /// BatchLoader's image is RandomResizedCrop, flip, rotation, ColorJitter, policy, drawn in
    /// that order from the sample's generator; the erasing happens on the normalised tensor from
    /// its own stream. Both depend only on (seed, epoch, sample).
    func testBatchesFollowTorchvisionsReferenceOrder() throws {
        let data = try ImageFolder(root: FinetuneTests.fixtures.appendingPathComponent("trainset").path)
        let a = Augmentation(autoAugment: .taWide, colorJitter: [0.4, 0.4, 0.4, 0.1], rotation: 15, randomErase: 1)
        let loader = BatchLoader(samples: data.train, augment: true, imageSize: 24, resize: 28, seed: 3, workers: 2,
                                 augmentation: a)
        let plain = BatchLoader(samples: data.train, augment: true, imageSize: 24, resize: 28, seed: 3, workers: 2)
        var changed = 0
        for index in 0..<6 {
            let decoded = try ImageDecoder.decode(path: data.train[index].path)
            var rng = SeededRandom(seed: 3, stream: 0xA06, 2, UInt64(index))
            var img = try RandomResizedCrop(size: 24).apply(decoded, using: &rng)
            img = RandomHorizontalFlip().apply(img, using: &rng)
            XCTAssertEqual(img, try plain.image(index, epoch: 2), "crop and flip draw first, as before")
            img = RandomRotation(degrees: 15).apply(img, using: &rng)
            img = try ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1).apply(img, using: &rng)
            img = AugmentPolicy.trivialAugmentWide(bins: 31).apply(img, using: &rng)
            let got = try loader.image(index, epoch: 2)
            XCTAssertEqual(got, img, "sample \(index)")
            if got != (try plain.image(index, epoch: 2)) { changed += 1 }
            XCTAssertEqual(try loader.image(index, epoch: 2), got, "the same draws again")
        }
        XCTAssertGreaterThan(changed, 3)
        // The tensor: normalised, then erased (p = 1) from the erasing stream.
        let batch = loader.load([0, 1], epoch: 2)
        XCTAssertEqual(batch.indices, [0, 1])
        for (k, index) in [0, 1].enumerated() {
            var expected = [Float](repeating: 0, count: loader.floatsPerImage)
            try expected.withUnsafeMutableBufferPointer { try Normalization.imagenet.write(try loader.image(index, epoch: 2), into: $0) }
            var rng = SeededRandom(seed: 3, stream: 0xE2A5E, 2, UInt64(index))
            expected.withUnsafeMutableBufferPointer {
                RandomErasing(p: 1).apply($0, channels: 3, height: 24, width: 24, using: &rng)
            }
            let got = Array(batch.images[(k * loader.floatsPerImage)..<((k + 1) * loader.floatsPerImage)])
            XCTAssertEqual(got, expected, "sample \(index)")
            XCTAssertGreaterThan(got.filter { $0 == 0 }.count, 3 * 24 * 24 / 60, "an erased box (at least 2% of the area)")
        }
        // Validation never augments.
        let val = BatchLoader(samples: data.train, augment: false, imageSize: 24, resize: 28, seed: 3, workers: 1, augmentation: a)
        XCTAssertNil(val.augmentation)
    }

    func testEachOptionRunsAndIsRecorded() throws {
        var losses: [[Double]] = []
        for (name, a) in Self.cases {
            let dir = try FinetuneTests.workdir("aug-\(name)")
            var c = FinetuneTests.config(dir, epochs: 1, augment: true)
            c.augmentation = a
            let report = dir + "/report.html"
            let j = try job(c, report: ReportWriter(path: report, commandLine: ["finetune"]))
            try j.run()
            losses.append(j.trainer.history.map(\.trainLoss))
            let metrics = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any])
            let config = try XCTUnwrap(metrics["config"] as? [String: Any])
            let saved = try XCTUnwrap(config["augmentation"] as? [String: Any], "\(name): \(config.keys.sorted())")
            XCTAssertEqual(saved["auto_augment"] as? String, a.autoAugment?.rawValue, name)
            XCTAssertEqual(saved["color_jitter"] as? [Double], a.colorJitter, name)
            XCTAssertEqual(saved["rotation"] as? Double, a.rotation, name)
            XCTAssertEqual(saved["random_erase"] as? Double, a.randomErase, name)
            XCTAssertEqual(saved["ra_magnitude"] as? Int, a.raMagnitude, name)
            XCTAssertEqual(saved["ra_num_ops"] as? Int, a.raNumOps, name)
            let html = try String(contentsOfFile: report, encoding: .utf8)
            XCTAssertTrue(html.contains(a.commandLine), "\(name): report.html shows \(a.commandLine)")
            // The resume point holds it as given.
            XCTAssertEqual(try ResumeState.read(for: c).config.augmentation, a, name)
        }
        XCTAssertEqual(Set(losses.map { $0.description }).count, losses.count, "each option trains on other images: \(losses)")
    }

    /// The draws depend only on (seed, epoch, sample): a run interrupted after epoch 1 resumes to
    /// the same weights; another option value is a different run, named.
    func testResumeContinuesExactly() throws {
        let a = try FinetuneTests.workdir("aug-a"), b = try FinetuneTests.workdir("aug-b")
        let aug = Augmentation(autoAugment: .ra, colorJitter: [0.3, 0.2], rotation: 10, randomErase: 0.5)
        var ca = FinetuneTests.config(a, epochs: 3, augment: true), cb = FinetuneTests.config(b, epochs: 3, augment: true)
        ca.augmentation = aug; cb.augmentation = aug
        let straight = try job(ca)
        try straight.run()
        let first = try job(cb)
        try first.run(until: 1)
        first.releaseFolders()
        let resumed = try job(cb, resume: true)
        try resumed.run()
        XCTAssertEqual(resumed.trainer.history.map(\.trainLoss), straight.trainer.history.map(\.trainLoss))
        XCTAssertEqual(try ResumeState.read(for: ca).modelState, try ResumeState.read(for: cb).modelState)
        for (change, message) in [
            ({ (c: inout TrainConfig) in c.augmentation?.autoAugment = .taWide }, "--auto-augment: the run was started with ra, this command gives ta_wide"),
            ({ (c: inout TrainConfig) in c.augmentation = nil }, "--auto-augment: the run was started with ra, this command gives none"),
            ({ (c: inout TrainConfig) in c.augmentation?.raMagnitude = 5 }, "--ra-magnitude: the run was started with 9, this command gives 5"),
            ({ (c: inout TrainConfig) in c.augmentation?.colorJitter = [0.3] }, "--color-jitter: the run was started with 0.3,0.2, this command gives 0.3"),
        ] as [((inout TrainConfig) -> Void, String)] {
            var other = cb
            change(&other)
            XCTAssertThrowsError(try job(other, resume: true)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
    }

    /// A resume point (or metrics.json) of a run made before these options has no
    /// `augmentation`: it decodes as none, and resuming it without the options is the same run.
    func testOlderConfigsHaveNoAugmentation() throws {
        let c = FinetuneTests.config(try FinetuneTests.workdir("aug-old"), epochs: 1, augment: true)
        var dict = try XCTUnwrap(ExactJSON.object(with: JSONEncoder().encode(c)) as? [String: Any])
        XCTAssertNil(dict["augmentation"], "not written when none is asked for")
        dict["augmentation"] = nil
        let back = try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: dict))
        XCTAssertNil(back.augmentation)
        XCTAssertEqual(back.differences(from: c), [])
    }

    /// A config that names values the command refuses (one decoded from a hand-edited file,
    /// or built in code): refused before training, with the option's line, not trapped in the
    /// loader (a RandAugment magnitude past its table, a negative op count or rotation).
    func testUnusableValuesAreRefusedBeforeTraining() throws {
        let dir = try FinetuneTests.workdir("aug-hostile")
        for (a, text) in [(Augmentation(autoAugment: .ra, raMagnitude: 99), "--ra-magnitude must be in 0...30"),
                          (Augmentation(autoAugment: .ra, raNumOps: -1), "--ra-num-ops must be in 1...16"),
                          (Augmentation(rotation: -3), "--rotation must be in (0, 180]"),
                          (Augmentation(colorJitter: [.nan]), "--color-jitter's values must be non-negative"),
                          (Augmentation(randomErase: 7), "--random-erase must be a probability")] {
            var c = FinetuneTests.config(dir, epochs: 1, augment: true)
            c.augmentation = a
            XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })) {
                guard case TrainingError.invalidAugmentation(let line) = $0 else { return XCTFail("\($0)") }
                XCTAssertTrue(line.contains(text), line)
            }
        }
    }
}
