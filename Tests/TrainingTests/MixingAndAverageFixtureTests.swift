import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest
@testable import Training

/// `--mixup-alpha`, `--cutmix-alpha` and `--ema-decay` against Fixtures/mixup (written by
/// Fixtures/gen_mixup.py with real torchvision transforms.v2 MixUp/CutMix, torch's
/// F.cross_entropy with probability targets and timm ModelEmaV2's formula).
final class MixingAndAverageFixtureTests: XCTestCase {
    static let dir = FixturePaths.url("mixup")

    static func json() throws -> [String: Any] {
        try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as? [String: Any])
    }

    static func tensors() throws -> [String: [Float]] {
        Dictionary(try FixtureTensors.named(dir.appendingPathComponent("tensors.bin")).map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a })
    }

    static func floats(_ v: Any?) -> [Float] { (v as? [Double] ?? []).map(Float.init) }

    /// Given torchvision's lambda (and CutMix's point), the box, the corrected lambda, the mixed
    /// images and the mixed targets are torchvision's, bit for bit.
    func testMixUpAndCutMixAreTorchvisions() throws {
        let j = try Self.json(), t = try Self.tensors()
        let mix = try XCTUnwrap(j["mix"] as? [String: Any])
        let labels = try XCTUnwrap(mix["labels"] as? [Int]), shape = try XCTUnwrap(mix["shape"] as? [Int])
        let (h, w) = (shape[2], shape[3])
        let input = try XCTUnwrap(t["mix/input"])
        let cases = try XCTUnwrap(mix["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let name = c["name"] as! String, lambda = c["lambda"] as! Double
            var images = input
            let draw: BatchMixing.Draw
            if c["kind"] as! String == "mixup" {
                draw = BatchMixing.Draw(kind: .mixup, lambda: lambda, box: nil, targetLambda: lambda)
            } else {
                let box = BatchMixing.box(lambda: lambda, x: c["x"] as! Int, y: c["y"] as! Int, height: h, width: w)
                let b = c["box"] as! [Int]
                XCTAssertEqual(box, BatchMixing.Box(x1: b[0], y1: b[1], x2: b[2], y2: b[3]), name)
                let adjusted = BatchMixing.area(box, height: h, width: w)
                // Within one ulp: Foundation's JSON reader parses some doubles an ulp off.
                XCTAssertEqual(adjusted, c["lambda_adjusted"] as! Double, accuracy: 2e-16, name)
                draw = BatchMixing.Draw(kind: .cutmix, lambda: lambda, box: box, targetLambda: adjusted)
            }
            let targets = BatchMixing.apply(draw, images: &images, labels: labels, classes: 5, height: h, width: w)
            XCTAssertEqual(images.map(\.bitPattern), try XCTUnwrap(t[name + "/images"]).map(\.bitPattern), "\(name) images")
            XCTAssertEqual(targets.map(\.bitPattern), try XCTUnwrap(t[name + "/targets"]).map(\.bitPattern), "\(name) targets")
            // mix/3: lambda 0.993 gives CutMix a box of no area (half-sides int(0.04 x side) = 0).
            if draw.box.map({ $0.x2 > $0.x1 && $0.y2 > $0.y1 }) ?? true { XCTAssertNotEqual(images, input, "\(name) mixed nothing") }
            else { XCTAssertEqual(draw.targetLambda, 1, name) }
        }
    }

    /// Cross entropy with probability targets, with and without class weights and label
    /// smoothing, as torch's F.cross_entropy (which divides by the batch size, weights or not).
    func testSoftTargetLossIsTorchs() throws {
        let cases = try XCTUnwrap(try Self.json()["loss"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let weights = (c["weights"] as? [Double])?.map(Float.init)
            let (loss, grad) = try SoftmaxCrossEntropyLoss.lossAndGradient(
                logits: Self.floats(c["logits"]), targets: .probabilities(Self.floats(c["targets"])), classes: 5,
                labelSmoothing: Float(c["smoothing"] as! Double), weights: weights)
            let tag = "weights \(weights != nil) smoothing \(c["smoothing"]!)"
            XCTAssertLessThanOrEqual(Double(abs(loss - Float(c["loss"] as! Double))) / (c["loss"] as! Double), 1e-6, tag)
            XCTAssertLessThanOrEqual(relativeError(grad, Self.floats(c["grad"])), 1e-6, tag)
        }
    }

    /// timm ModelEmaV2's update in float32, bit for bit.
    func testAverageArithmeticIsTimms() throws {
        let cases = try XCTUnwrap(try Self.json()["ema_arith"] as? [[String: Any]])
        for c in cases {
            var e = Self.floats(c["ema"])
            WeightEMA.average(&e, Self.floats(c["model"]), decay: c["decay"] as! Double)
            XCTAssertEqual(e.map(\.bitPattern), Self.floats(c["result"]).map(\.bitPattern), "decay \(c["decay"]!)")
        }
    }

    /// Three steps of SGD and of Adam of Fixtures/training/basic's model (--train fc, batch norms
    /// in train mode) on mixed batches: each step's loss and fc gradients, then fc, the running
    /// statistics and the weight average of both, as torch with timm's EMA.
    func testMixedStepsAndAverageAreTorchs() throws {
        let j = try Self.json(), t = try Self.tensors()
        let train = try XCTUnwrap(j["train"] as? [String: Any])
        let steps = try XCTUnwrap(train["steps"] as? [[String: Any]])
        let basic = FixturePaths.url("training/basic")
        let meta = try XCTUnwrap(ExactJSON.object(with: Data(contentsOf: basic.appendingPathComponent("meta.json"))) as? [String: Any])
        let labels = meta["labels"] as! [Int], (n, h, w) = (meta["batch"] as! Int, meta["height"] as! Int, meta["width"] as! Int)
        let input = try Data(contentsOf: basic.appendingPathComponent("input.bin")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let headData = try Data(contentsOf: basic.appendingPathComponent("head_init.bin")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let weights = Self.floats(train["weights"])
        let configs: [String: OptimizerConfig] = ["sgd": OptimizerConfig(kind: .sgd, lr: 0.1, weightDecay: 1e-4, momentum: 0.9),
                                                  "adam": OptimizerConfig(kind: .adam, lr: 1e-2)]
        let optimizers = try XCTUnwrap(train["optimizers"] as? [String: [String: Any]])
        XCTAssertEqual(Set(optimizers.keys), ["sgd", "adam"])
        for (name, record) in optimizers {
            let model = try Network(stateDict: try Checkpoint(contentsOf: basic.appendingPathComponent("initial.pth").path).stateDict,
                                    head: .replace(numClasses: 5), seed: 42)
            let fcw = try XCTUnwrap(model.parameters.first { $0.name == "fc.weight" }), fcb = try XCTUnwrap(model.parameters.first { $0.name == "fc.bias" })
            _ = fcw.value.update(from: headData[0..<fcw.count]); _ = fcb.value.update(from: headData[fcw.count..<(fcw.count + fcb.count)])
            model.freeze(.trainOnly(["fc.weight", "fc.bias"]))
            model.frozenBN = .train
            model.convolution = .direct
            model.dropoutEnabled = false
            let ema = WeightEMA(model: model, decay: train["decay"] as! Double)
            let optimizer = Optimizer(configs[name]!)
            let losses = record["losses"] as! [Double]
            for (k, s) in steps.enumerated() {
                var images = input
                let draw: BatchMixing.Draw
                if s["kind"] as! String == "mixup" {
                    draw = .init(kind: .mixup, lambda: s["lambda"] as! Double, box: nil, targetLambda: s["lambda"] as! Double)
                } else {
                    let b = s["box"] as! [Int], box = BatchMixing.Box(x1: b[0], y1: b[1], x2: b[2], y2: b[3])
                    draw = .init(kind: .cutmix, lambda: 0, box: box, targetLambda: BatchMixing.area(box, height: h, width: w))
                    XCTAssertEqual(draw.targetLambda, s["lambda_adjusted"] as! Double)
                }
                let targets = BatchMixing.apply(draw, images: &images, labels: labels, classes: 5, height: h, width: w)
                let (loss, _) = try images.withUnsafeBufferPointer {
                    try model.trainStep(images: $0, labels: labels, batch: n, height: h, width: w, labelSmoothing: 0.1,
                                        classWeights: weights, softTargets: targets)
                }
                XCTAssertLessThanOrEqual(abs(Double(loss) - losses[k]) / losses[k], 2e-6, "\(name) step \(k) loss \(loss) vs \(losses[k])")
                XCTAssertLessThanOrEqual(relativeError(Array(fcw.grad), try XCTUnwrap(t["train/\(name)/\(k)/fc.weight.grad"])), 1e-5, "\(name) step \(k)")
                XCTAssertLessThanOrEqual(relativeError(Array(fcb.grad), try XCTUnwrap(t["train/\(name)/\(k)/fc.bias.grad"])), 1e-5, "\(name) step \(k)")
                optimizer.step(model.parameters)
                ema.update(from: model)
            }
            let sd = model.stateDict(), averaged = ema.stateDict
            var compared = 0
            for (key, expected) in t where key.hasPrefix("train/\(name)/model/") {
                let k = String(key.dropFirst("train/\(name)/model/".count))
                let e = try XCTUnwrap(t["train/\(name)/ema/\(k)"], k)
                // Trained tensors 1e-5; running statistics within TrainStepTests' bound of one step (2e-6) x 3.
                let bound = k.hasPrefix("fc.") ? 1e-5 : 6e-6
                XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(sd[k]).floats(), expected), bound, "\(name) model \(k)")
                XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(averaged[k], "\(k) not averaged").floats(), e), bound, "\(name) ema \(k)")
                XCTAssertNotEqual(e, expected, "\(name) \(k): the average equals the model, so nothing was checked")
                compared += 1
            }
            XCTAssertEqual(compared, 2 + 2 * model.stateDict().items.filter { $0.key.hasSuffix("running_mean") }.count, name)
            // Frozen weights are not copied: the average holds fc and the running statistics only.
            XCTAssertEqual(Set(ema.keys).count, compared, name)
        }
    }
}

/// WeightEMA's bookkeeping: what it copies, what a later phase adds, and that validating or
/// saving the average leaves the model exactly as it was.
final class WeightAverageTrackingTests: XCTestCase {
    func model() throws -> Network {
        let basic = FixturePaths.url("training/basic")
        return try Network(stateDict: try Checkpoint(contentsOf: basic.appendingPathComponent("initial.pth").path).stateDict,
                           head: .replace(numClasses: 5), seed: 42)
    }

    func testALaterPhaseIsTrackedFromItsStartAndSwapsAreExact() throws {
        let m = try model()
        m.freeze(.headOnly)
        m.frozenBN = .eval
        let ema = WeightEMA(model: m, decay: 0.5)
        XCTAssertEqual(ema.keys, ["fc.weight", "fc.bias"], "a frozen trunk (batch norms in eval mode) is not copied")
        let fc = try XCTUnwrap(m.parameters.first { $0.name == "fc.weight" })
        let before = m.stateDict()
        fc.value[0] += 1
        ema.update(from: m)
        XCTAssertEqual(try XCTUnwrap(ema.stateDict["fc.weight"]).floats()[0], 0.5 * before["fc.weight"]!.floats()[0] + 0.5 * fc.value[0])
        // The trunk starts training (--head-epochs is over): it is averaged from its values now.
        m.freeze(.none)
        m.frozenBN = .train
        ema.track(m)
        XCTAssertTrue(ema.keys.contains("conv1.weight") && ema.keys.contains("bn1.running_mean"), "\(ema.keys)")
        XCTAssertEqual(ema.stateDict["conv1.weight"]?.floats(), before["conv1.weight"]?.floats())
        // withAverage puts the model's own values back bit for bit.
        let own = m.stateDict()
        let averaged = ema.withAverage(in: m) { m.stateDict() }
        XCTAssertEqual(m.stateDict(), own)
        XCTAssertNotEqual(averaged["fc.weight"], own["fc.weight"])
        XCTAssertEqual(averaged["conv1.weight"], own["conv1.weight"])
        // A resume point's averages come back; one of another model is refused.
        let copy = WeightEMA(model: m, decay: 0.5)
        try copy.load(ema.stateDict, model: m)
        XCTAssertEqual(copy.stateDict, ema.stateDict)
        var foreign = ema.stateDict
        foreign["fc.weight"] = TensorData(shape: [3], floats: [1, 2, 3])
        XCTAssertThrowsError(try copy.load(foreign, model: m))
    }
}
