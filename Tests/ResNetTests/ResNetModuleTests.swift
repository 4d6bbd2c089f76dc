import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// Evaluation, features, state dicts, policies and initialisation of `Network`.
final class ResNetModuleTests: XCTestCase {
    func testEvalLogitsAndFeaturesMatchPyTorch() throws {
        for name in ["basic", "bottleneck", "resnext"] {
            let f = try TrainingFixture(name)
            let model = try Network(stateDict: f.stateDict, head: .keep, seed: 1)
            let m = f.meta
            let logits = try f.input.withUnsafeBufferPointer {
                try model.evalLogits(images: $0, batch: m.batch, height: m.height, width: m.width)
            }
            let e1 = relativeError(logits, try f.floats("eval_logits.bin"))
            XCTAssertLessThanOrEqual(e1, 1e-5, "\(name) eval logits")
            let feats = try f.input.withUnsafeBufferPointer {
                try model.features(images: $0, batch: m.batch, height: m.height, width: m.width)
            }
            let e2 = relativeError(feats, try f.floats("features.bin"))
            XCTAssertLessThanOrEqual(e2, 1e-5, "\(name) features")
            // With a frozen trunk the folded inference graph computes the same.
            model.freeze(.headOnly)
            let folded = try f.input.withUnsafeBufferPointer {
                try model.evalLogits(images: $0, batch: m.batch, height: m.height, width: m.width)
            }
            let e3 = relativeError(folded, try f.floats("eval_logits.bin"))
            XCTAssertLessThanOrEqual(e3, 1e-5, "\(name) eval logits, folded trunk")
            // Evaluation changes nothing: the state dict is still the file's.
            XCTAssertEqual(model.stateDict(), f.stateDict, "\(name): eval must not touch weights or statistics")
            print(String(format: "[training] %@: eval logits rel %.2e, features rel %.2e, folded-trunk logits rel %.2e", name, e1, e2, e3))
        }
    }

    /// `--train last` (`--last-stages` 1 to 4) and `--train fc` as policies (not key lists) train
    /// what the torch fixtures' cases trained: the last N stages and fc, or fc alone.
    func testPoliciesTrainWhatTheFixturesTrain() throws {
        for name in ["basic", "bottleneck"] {
            let f = try TrainingFixture(name)
            let model = try Network(stateDict: f.stateDict, head: .keep, seed: 1)
            for (policy, fixtureCase) in [(FreezePolicy.lastStages(1), "last_bn_eval"), (.lastStages(2), "last2_bn_eval"),
                                          (.lastStages(3), "last3_bn_eval"), (.lastStages(4), "last4_bn_eval"),
                                          (.headOnly, "fc_bn_eval"), (.none, "all")] {
                model.freeze(policy)
                XCTAssertEqual(model.parameters.filter(\.trainable).map(\.name), try f.caseInfo(fixtureCase).trainable, "\(name) \(policy)")
            }
        }
    }

    func testStateDictKeepsTorchvisionOrderAndRoundTrips() throws {
        let f = try TrainingFixture("basic")
        let keep = try Network(stateDict: f.stateDict, head: .keep, seed: 1)
        XCTAssertEqual(keep.stateDict(), f.stateDict)
        XCTAssertEqual(keep.parameters.map(\.name),
                       f.stateDict.keys.filter { !$0.hasSuffix("running_mean") && !$0.hasSuffix("running_var") && !$0.hasSuffix("num_batches_tracked") })

        let replace = try Network(stateDict: f.stateDict, head: .replace(numClasses: 5), seed: 1)
        let sd = replace.stateDict()
        XCTAssertEqual(sd.keys, f.stateDict.keys)
        XCTAssertEqual(sd["fc.weight"]?.shape, [5, 32])
        XCTAssertEqual(sd["fc.bias"]?.shape, [5])
        XCTAssertEqual(sd["layer1.0.bn1.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(sd["layer1.0.bn1.num_batches_tracked"]?.shape, [])
        // nn.Linear's init bound 1/sqrt(32).
        let w = try XCTUnwrap(sd["fc.weight"]).floats()
        XCTAssertLessThanOrEqual(w.map(abs).max() ?? 1, 1 / Float(32).squareRoot())
        XCTAssertGreaterThan(w.map(abs).max() ?? 0, 0.5 / Float(32).squareRoot())
        // Same seed, same head; another seed, another head.
        XCTAssertEqual(try Network(stateDict: f.stateDict, head: .replace(numClasses: 5), seed: 1).stateDict(), sd)
        XCTAssertNotEqual(try Network(stateDict: f.stateDict, head: .replace(numClasses: 5), seed: 2).stateDict()["fc.weight"],
                          sd["fc.weight"])

        // Written as a .pth and read back: identical.
        let path = Scratch.root.appendingPathComponent("graft-train-\(getpid()).pth").path
        defer { unlink(path) }
        try sd.write(to: path)
        XCTAssertEqual(try Checkpoint(contentsOf: path).stateDict, sd)
        // ...and a model built from it continues where this one is.
        let again = try Network(stateDict: sd, head: .keep, seed: 9)
        XCTAssertEqual(again.stateDict(), sd)

        let append = try Network(stateDict: f.stateDict, head: .append(numClasses: 3), seed: 1)
        let asd = append.stateDict()
        XCTAssertEqual(Array(asd.keys.suffix(4)), ["fc.0.weight", "fc.0.bias", "fc.1.weight", "fc.1.bias"])
        XCTAssertEqual(Array(asd.keys.dropLast(4)), Array(f.stateDict.keys.dropLast(2)))
        XCTAssertEqual(asd["fc.0.weight"], f.stateDict["fc.weight"])
        XCTAssertEqual(asd["fc.1.weight"]?.shape, [3, 10])
        XCTAssertFalse(append.parameters.first { $0.name == "fc.0.weight" }!.trainable)
        XCTAssertTrue(append.parameters.first { $0.name == "fc.1.weight" }!.trainable)
        append.freeze(.headOnly)
        XCTAssertEqual(append.parameters.filter(\.trainable).map(\.name), ["fc.1.weight", "fc.1.bias"])
    }

    func testStepUpdatesStateDictAndReadsUpdatedValues() throws {
        let f = try TrainingFixture("basic")
        let model = try Network(stateDict: f.stateDict, head: .replace(numClasses: 5), seed: 3)
        model.freeze(.headOnly)
        model.frozenBN = .eval
        let m = f.meta
        let before = try f.input.withUnsafeBufferPointer {
            try model.evalLogits(images: $0, batch: m.batch, height: m.height, width: m.width)
        }
        // A manual SGD step on fc lowers the loss, and the next forward sees the new values.
        let (loss0, _) = try f.input.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: m.labels, batch: m.batch, height: m.height, width: m.width)
        }
        for p in model.parameters where p.trainable {
            for i in 0..<p.count { p.value[i] -= 0.5 * p.grad[i] }
        }
        let (loss1, _) = try f.input.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: m.labels, batch: m.batch, height: m.height, width: m.width)
        }
        XCTAssertLessThan(loss1, loss0)
        let after = try f.input.withUnsafeBufferPointer {
            try model.evalLogits(images: $0, batch: m.batch, height: m.height, width: m.width)
        }
        XCTAssertGreaterThan(relativeError(after, before), 1e-3)
        // Frozen BN in eval mode: statistics untouched.
        let sd = model.stateDict()
        XCTAssertEqual(sd["layer2.0.bn1.running_var"], f.stateDict["layer2.0.bn1.running_var"])
        XCTAssertEqual(sd["layer2.0.bn1.num_batches_tracked"], f.stateDict["layer2.0.bn1.num_batches_tracked"])
        // In train mode they move, and num_batches_tracked counts.
        model.frozenBN = .train
        _ = try f.input.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: m.labels, batch: m.batch, height: m.height, width: m.width)
        }
        let sd2 = model.stateDict()
        XCTAssertNotEqual(sd2["layer2.0.bn1.running_var"], f.stateDict["layer2.0.bn1.running_var"])
        XCTAssertEqual(sd2["layer2.0.bn1.num_batches_tracked"]?.int64s(),
                       f.stateDict["layer2.0.bn1.num_batches_tracked"].map { [$0.int64s()[0] + 1] })
    }

    func testFrozenWeightsEditedByHandAreSeenAfterWeightsChanged() throws {
        let f = try TrainingFixture("basic")
        let m = f.meta
        for policy in ["fc", "last"] {
            let model = try Network(stateDict: f.stateDict, head: .keep, seed: 3)
            model.freeze(policy == "fc" ? .headOnly : .lastStages(1))
            model.frozenBN = .eval
            func step() throws -> [Float] {
                try f.input.withUnsafeBufferPointer {
                    try model.trainStep(images: $0, labels: m.labels, batch: m.batch, height: m.height, width: m.width).logits
                }
            }
            func eval() throws -> [Float] {
                try f.input.withUnsafeBufferPointer { try model.evalLogits(images: $0, batch: m.batch, height: m.height, width: m.width) }
            }
            let (s1, e1) = (try step(), try eval())
            // Halve a frozen conv's weights by hand and say so.
            let w = try XCTUnwrap(model.parameters.first { $0.name == "layer1.0.conv1.weight" })
            XCTAssertFalse(w.trainable)
            for i in 0..<w.count { w.value[i] *= 0.5 }
            model.weightsChanged()
            let (s2, e2) = (try step(), try eval())
            XCTAssertGreaterThan(relativeError(s2, s1), 1e-4, policy)
            XCTAssertGreaterThan(relativeError(e2, e1), 1e-4, policy)
            // The same as a model built from the edited weights.
            let fresh = try Network(stateDict: model.stateDict(), head: .keep, seed: 3)
            let e3 = try f.input.withUnsafeBufferPointer { try fresh.evalLogits(images: $0, batch: m.batch, height: m.height, width: m.width) }
            XCTAssertLessThanOrEqual(relativeError(e2, e3), 1e-5, policy)
        }
    }

    func testWrongFrozenBNModeIsDetectedByTheFixtures() throws {
        // The eval-mode fixture's statistics differ from what a train-mode frozen BN produces,
        // so the step tests tell the two modes apart.
        let f = try TrainingFixture("basic")
        let c = try f.caseInfo("fc_bn_eval")
        let model = try Network(stateDict: f.stateDict, head: .replace(numClasses: 5), seed: 3)
        let trainable = Set(c.trainable)
        model.freeze(.trainOnly(Set(trainable)))
        model.frozenBN = .train
        let m = f.meta
        _ = try f.input.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: m.labels, batch: m.batch, height: m.height, width: m.width)
        }
        let stats = try f.tensors("fc_bn_eval/stats.bin")
        let worst = try stats.map { relativeError(try XCTUnwrap(model.stateDict()[$0.name]).floats(), $0.values) }.max() ?? 0
        XCTAssertGreaterThan(worst, 1e-3)
    }

    func testTorchvisionInitWithoutStateDict() throws {
        let model = try Network(stateDict: nil, architecture: "resnet18", head: .replace(numClasses: 7), seed: 5)
        XCTAssertEqual(model.name, "resnet18")
        let count = model.parameters.reduce(0) { $0 + $1.count }
        let expected: Int = 11_689_512 - 513_000 + 7 * 513
        XCTAssertEqual(count, expected)
        let sd = model.stateDict()
        let conv1 = try XCTUnwrap(sd["conv1.weight"]).floats()
        var sumSquares = 0.0
        for v in conv1 { sumSquares += Double(v) * Double(v) }
        let std: Double = (sumSquares / Double(conv1.count)).squareRoot()
        let kaiming: Double = (2.0 / 3136.0).squareRoot()  // fan_out = 64 * 7 * 7
        XCTAssertEqual(std, kaiming, accuracy: 0.05 * kaiming)
        XCTAssertEqual(try XCTUnwrap(sd["layer3.1.bn2.weight"]).floats(), [Float](repeating: 1, count: 256))
        XCTAssertEqual(try XCTUnwrap(sd["layer3.1.bn2.bias"]).floats(), [Float](repeating: 0, count: 256))
        XCTAssertEqual(try XCTUnwrap(sd["layer3.1.bn2.running_var"]).floats(), [Float](repeating: 1, count: 256))
        XCTAssertEqual(sd["fc.weight"]?.shape, [7, 512])
        XCTAssertThrowsError(try Network(stateDict: nil, architecture: "alexnet", head: .keep, seed: 1))
        XCTAssertThrowsError(try Network(stateDict: nil, architecture: nil, head: .keep, seed: 1))
    }

    /// Each way of asking for a model that cannot be built is its own error, naming the fix.
    func testRefusalsAreTyped() throws {
        XCTAssertThrowsError(try Network(stateDict: nil, architecture: "alexnet", head: .keep, seed: 1)) {
            XCTAssertEqual($0 as? ModelError, .unknownArchitecture(name: "alexnet"))
            XCTAssertTrue("\($0)".contains("wide_resnet101_2"), "lists the ten variants: \($0)")
        }
        let f = try TrainingFixture("basic")
        XCTAssertThrowsError(try Network(stateDict: f.stateDict, architecture: "resnet50", head: .keep, seed: 1)) {
            guard case .architectureMismatch(_, "resnet50")? = $0 as? ModelError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try Network(stateDict: f.stateDict, head: .replace(numClasses: 0), seed: 1)) {
            XCTAssertEqual($0 as? ModelError, .noClasses(0))
        }
        let model = try Network(stateDict: f.stateDict, head: .keep, seed: 1)
        model.freeze(.trainOnly([]))
        XCTAssertThrowsError(try model.trainStep(headInputs: [0], labels: [0])) { XCTAssertEqual($0 as? ModelError, .nothingTrains) }
    }

    func testBadInputsThrow() throws {
        let f = try TrainingFixture("bottleneck")
        let model = try Network(stateDict: f.stateDict, head: .replace(numClasses: 3), seed: 1)
        let m = f.meta
        try f.input.withUnsafeBufferPointer { buf in
            XCTAssertThrowsError(try model.trainStep(images: buf, labels: [0], batch: m.batch, height: m.height, width: m.width))
            XCTAssertThrowsError(try model.trainStep(images: buf, labels: [Int](repeating: 3, count: m.batch), batch: m.batch,
                                                     height: m.height, width: m.width))
            XCTAssertThrowsError(try model.evalLogits(images: buf, batch: m.batch, height: m.height + 1, width: m.width))
            // One value per channel in layer4 (1x1 at batch 1): PyTorch refuses batch statistics too.
            let one = UnsafeBufferPointer(rebasing: buf[0..<(3 * m.height * m.width)])
            XCTAssertThrowsError(try model.trainStep(images: one, labels: [0], batch: 1, height: m.height, width: m.width))
            XCTAssertNoThrow(try model.evalLogits(images: one, batch: 1, height: m.height, width: m.width))
        }
    }
}
