import Checkpoint
import Foundation
import Imaging
import TestSupport
import XCTest
import Inference
import Models
@testable import Training

/// finetune's job on Fixtures/trainset (3 easy classes, 40x40 images) from a small pretrained
/// trunk (Fixtures/predict/basic.pth), with the fc-only policy.
final class FinetuneTests: XCTestCase {
    static let fixtures = FixturePaths.root

    func workdir(_ name: String) throws -> String { try Self.workdir(name) }

    func config(_ dir: String, epochs: Int = 6, augment: Bool = false, head: HeadMode = .replace) -> TrainConfig {
        Self.config(dir, epochs: epochs, augment: augment, head: head)
    }

    static func workdir(_ name: String) throws -> String {
        let dir = Scratch.root.appendingPathComponent("graft-ft-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func config(_ dir: String, epochs: Int = 6, augment: Bool = false, head: HeadMode = .replace) -> TrainConfig {
        var c = TrainConfig(data: Self.fixtures.appendingPathComponent("trainset").path, classes: 3)
        c.weights = Self.fixtures.appendingPathComponent("predict/basic.pth").path
        c.policy = .fc
        c.head = head
        c.epochs = epochs
        c.batchSize = 8
        c.optimizer = OptimizerConfig(kind: .adam, lr: 0.02)
        c.imageSize = 32
        c.resize = 36
        c.augment = augment
        c.seed = 11
        // Fixed arithmetic: tests here compare separate runs bit for bit, and auto's choices come
        // from timings (ConvChoiceFinetuneTests and the resume test below cover the others).
        c.conv = .direct
        c.output = dir + "/resNet18.pth"
        c.classIndices = dir + "/class_indices.json"
        c.metrics = dir + "/metrics.json"
        return c
    }

    /// The finetune job as the command runs it (`FinetuneJob`), quietly; `until` stops after
    /// that epoch, as an interrupted run would.
    func train(_ c: TrainConfig, until: Int? = nil, resume: Bool = false) throws -> Trainer {
        let job = try FinetuneJob.prepare(c, output: c.output, resume: resume, log: { _ in }, warn: { _ in })
        try job.run(until: until)
        return job.trainer
    }

    func testLearnsTheClassesAndWritesTorchLoadableFiles() throws {
        let dir = try workdir("learn")
        let c = config(dir)
        let t = try train(c)
        XCTAssertGreaterThanOrEqual(t.bestAccuracy, 0.9, "val accuracy per epoch: \(t.history.map(\.valAccuracy))")
        XCTAssertLessThan(t.history.last!.trainLoss, t.history.first!.trainLoss)
        XCTAssertEqual(t.unreadable.count, 0, "the corrupt JPEG is left out by the scan, before training")
        XCTAssertEqual(t.data.skipped.map { ($0.path as NSString).lastPathComponent }, ["99_corrupt.jpg", "notes.txt"])
        let saved = try Checkpoint(contentsOf: c.output).stateDict
        let original = try Checkpoint(contentsOf: c.weights!).stateDict
        XCTAssertEqual(saved.keys, original.keys, "torchvision's keys, in torchvision's order")
        XCTAssertEqual(saved["fc.weight"]?.shape, [3, 64])
        XCTAssertEqual(saved["layer1.0.conv1.weight"], original["layer1.0.conv1.weight"], "the frozen trunk is unchanged")
        XCTAssertEqual(saved["bn1.num_batches_tracked"]?.dtype, .int64)
        // predict reads what finetune wrote, at the sizes it trained at (from metrics.json), and
        // agrees with the validation accuracy.
        let resolved = TrainedTransform.resolve(weights: c.output, imageSize: nil, resize: nil)
        XCTAssertEqual(resolved.transform, EvalTransform(resize: 36, crop: 32), "predict's default sizes for finetune's output")
        XCTAssertEqual(resolved.source, c.metrics)
        let predictor = try Predictor(weights: c.output, classIndices: nil, transform: resolved.transform)
        let val = try ImageFolder(root: c.data).val
        var correct = 0
        try predictor.predict(paths: val.map(\.path), batchSize: 5) { path, r in
            if case .success(let p) = r, p.index == val.first(where: { $0.path == path })!.label { correct += 1 }
        }
        XCTAssertGreaterThanOrEqual(Double(correct) / Double(val.count), 0.9)
        let metrics = try ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any]
        XCTAssertEqual((metrics?["epochs"] as? [Any])?.count, c.epochs)
    }

    func testSameSeedSameResultAndResumeContinuesExactly() throws {
        let a = try workdir("a"), b = try workdir("b")
        var ca = config(a, epochs: 4, augment: true), cb = config(b, epochs: 4, augment: true)
        ca.policy = .fc; cb.policy = .fc
        // Bit for bit needs the same convolution choices: auto's come from timings (two fresh
        // runs may choose differently; ConvChoiceFinetuneTests checks that resume reuses them).
        ca.conv = .winograd; cb.conv = .winograd
        let straight = try train(ca)
        _ = try train(cb, until: 2)                       // "interrupted" after epoch 2
        let resumed = try train(cb, resume: true)
        XCTAssertEqual(resumed.history.count, 4)
        XCTAssertEqual(straight.history.map(\.trainLoss), resumed.history.map(\.trainLoss))
        XCTAssertEqual(try ResumeState.read(for: ca).modelState, try ResumeState.read(for: cb).modelState)
    }

    func testAppendHeadIsSavedUnderItsOwnKeysAndPredicts() throws {
        let dir = try workdir("append")
        let c = config(dir, epochs: 8, head: .append)
        let t = try train(c)
        let saved = try Checkpoint(contentsOf: c.output).stateDict
        XCTAssertEqual(saved["fc.0.weight"]?.shape, [5, 64])
        XCTAssertEqual(saved["fc.1.weight"]?.shape, [3, 5])
        XCTAssertNil(saved["fc.weight"])
        let original = try Checkpoint(contentsOf: c.weights!).stateDict
        XCTAssertEqual(saved["fc.0.weight"], original["fc.weight"], "the pretrained fc stays frozen")
        let predictor = try Predictor(weights: c.output, classIndices: c.classIndices, transform: .init(resize: 36, crop: 32))
        XCTAssertEqual(predictor.numClasses, 3)
        XCTAssertEqual(predictor.classNames, ["daisy", "roses", "tulips"])
        XCTAssertGreaterThan(t.bestAccuracy, 0.5)
    }

    func testDataErrorsNameTheClasses() throws {
        let root = Self.fixtures.appendingPathComponent("trainset").path
        XCTAssertThrowsError(try ImageFolder(root: root).check(classCount: 5)) {
            XCTAssertTrue("\($0)".contains("daisy, roses, tulips"), "\($0)")
        }
        let data = try ImageFolder(root: root)
        XCTAssertEqual(data.classes, ["daisy", "roses", "tulips"])
        XCTAssertEqual(data.train.count, 30, "10 images a class; the corrupt JPEG is not counted")
        XCTAssertEqual(data.val.count, 12)
        // Without a val folder: a seeded split of each class, the same every time.
        let split1 = try ImageFolder(root: root + "/train", valSplit: 0.3, seed: 1)
        let split2 = try ImageFolder(root: root + "/train", valSplit: 0.3, seed: 1)
        XCTAssertEqual(split1.val, split2.val)
        XCTAssertEqual(split1.val.count, 3 * 3)
        XCTAssertEqual(split1.train.count + split1.val.count, 30)
    }
}

/// The backward-pass policies through the whole finetune path.
extension FinetuneTests {
    func testLastStageTrainsOnlyLayer4AndTheHead() throws {
        let t = self
        let dir = try t.workdir("last")
        var c = t.config(dir, epochs: 2)
        c.policy = .last
        c.frozenBN = .eval
        c.optimizer = OptimizerConfig(kind: .sgd, lr: 0.05, momentum: 0.9)
        let trainer = try t.train(c)
        XCTAssertEqual(trainer.history.count, 2)
        XCTAssertTrue(trainer.history.allSatisfy { $0.trainLoss.isFinite })
        let before = try Checkpoint(contentsOf: c.weights!).stateDict
        let after = try ResumeState.read(for: c).modelState
        XCTAssertEqual(after["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"], "layer1 is frozen")
        XCTAssertEqual(after["layer3.0.bn1.running_mean"], before["layer3.0.bn1.running_mean"], "frozen BN (eval) keeps its statistics")
        XCTAssertNotEqual(after["layer4.0.conv1.weight"], before["layer4.0.conv1.weight"], "layer4 trains")
        XCTAssertNotEqual(after["layer4.0.bn1.running_mean"], before["layer4.0.bn1.running_mean"], "trained BN updates its statistics")
        XCTAssertEqual(after["fc.weight"]?.shape, [3, 64])
        let counted = before["layer4.0.bn1.num_batches_tracked"]!.int64s()[0]
        XCTAssertEqual(after["layer4.0.bn1.num_batches_tracked"]?.int64s(), [counted + 8], "4 batches a epoch, 2 epochs")
    }

    /// `--train last --last-stages N`, N = 1 to 4, from the config to the model finetune builds:
    /// what trains is what PyTorch trained in the fixtures' last<N> cases (Fixtures/gen_last_stages.py).
    func testEveryLastStagesValueTrainsTheFixturesSet() throws {
        for model in ["basic", "bottleneck"] {
            let dir = FixturePaths.url("training/\(model)")
            let weights = try Checkpoint(contentsOf: dir.appendingPathComponent("initial.pth").path).stateDict
            for n in 1...4 {
                var c = TrainConfig(data: "unused", classes: 3)
                c.policy = .last
                c.lastStages = n
                let built = try Finetune.makeModel(c, weights: weights)
                let caseName = n == 1 ? "last_bn_eval" : "last\(n)_bn_eval"
                let json = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("\(caseName)/case.json")))
                let want = try XCTUnwrap((json as? [String: Any])?["trainable"] as? [String], caseName)
                XCTAssertEqual(built.parameters.filter(\.trainable).map(\.name), want, "\(model) --last-stages \(n)")
            }
            // A ResNet has four stages: a fifth is refused, naming the range.
            var c = TrainConfig(data: "unused", classes: 3)
            c.policy = .last
            c.lastStages = 5
            XCTAssertThrowsError(try Finetune.makeModel(c, weights: weights)) {
                XCTAssertEqual($0 as? TrainingError, .tooManyStages(asked: 5, model: "resnet(custom)", stages: 4))
                XCTAssertEqual("\($0)", "--last-stages 5: resnet(custom) has 4 stages; give 1 to 4 (or --train all)")
            }
        }
    }

    func testAllPolicyFromScratchLearns() throws {
        let t = self
        let dir = try t.workdir("scratch")
        var c = t.config(dir, epochs: 4)
        c.weights = nil
        c.architecture = "resnet18"
        c.policy = .all
        c.optimizer = OptimizerConfig(kind: .adam, lr: 1e-3)
        let trainer = try t.train(c)
        XCTAssertLessThan(trainer.history.last!.trainLoss, trainer.history.first!.trainLoss)
        XCTAssertEqual(try Checkpoint(contentsOf: c.output).stateDict.keys.count, 122, "torchvision resnet18's 122 keys")
    }
}

extension FinetuneTests {
    /// `--precision bf16` through the whole path: bf16 compute, f32 master weights and files.
    func testBF16TrainingLearnsAndSavesFloat32() throws {
        try skipUnlessBF16()
        let dir = try workdir("bf16")
        var c = config(dir, epochs: 4)
        c.policy = .all
        c.precision = "bf16"
        c.optimizer = OptimizerConfig(kind: .adam, lr: 1e-3)
        let trainer = try train(c)
        XCTAssertLessThan(trainer.history.last!.trainLoss, trainer.history.first!.trainLoss)
        XCTAssertEqual(try Checkpoint(contentsOf: c.output).stateDict["layer1.0.conv1.weight"]?.dtype, .float32)
    }
}
