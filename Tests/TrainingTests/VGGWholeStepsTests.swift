import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import Training
import XCTest

/// Three whole training steps of a VGG (zero_grad, forward, loss, backward, optimizer step)
/// against PyTorch (Fixtures/vgg/training, `steps_*`): losses, each step's logits, the trained
/// parameters and running statistics after the third, with SGD (momentum, weight decay) and Adam.
final class VGGWholeStepsTests: XCTestCase {
    static let root = FixturePaths.url("vgg/training")
    struct Meta: Decodable { let batch: Int, height: Int, width: Int, labels: [Int], classes: Int }
    struct Case: Decodable { let frozen_bn: String; let head: String; let label_smoothing: Float; let trainable: [String]; let steps: [String] }
    struct Steps: Decodable { let losses: [Float]; let num_batches_tracked: [String: Int64] }
    func floats(_ url: URL) throws -> [Float] { try FixtureTensors.floats(url) }
    func tensors(_ url: URL) throws -> [(String, [Float])] { try FixtureTensors.named(url).map { ($0.name, $0.values) } }

    func check(_ model: String, _ caseName: String) throws {
        let dir = Self.root.appendingPathComponent(model)
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: dir.appendingPathComponent("\(caseName)/case.json")))
        let input = try floats(dir.appendingPathComponent("input.bin"))
        // A conv's bias before a batch norm with batch statistics has a gradient that is zero
        // in exact arithmetic, rounding noise in torch and in Graft alike; Adam divides it by its
        // own size, so those biases move by the noise's sign and the runs part: with trainable
        // conv biases before batch norms only SGD's steps can be compared.
        let noisyBiases = c.trainable.contains { $0.hasPrefix("features.") && $0.hasSuffix(".bias") } && model.hasSuffix("_bn")
        for opt in c.steps where !(opt == "adam" && noisyBiases) {
            let initial = try Checkpoint(contentsOf: dir.appendingPathComponent("initial.pth").path).stateDict
            let head: HeadPolicy = c.head == "append" ? .append(numClasses: meta.classes) : .replace(numClasses: meta.classes)
            let net = try Network(stateDict: initial, head: head, seed: 1)
            let headInit = c.head == "append" ? dir.appendingPathComponent("\(caseName)/head_init.bin") : dir.appendingPathComponent("head_init.bin")
            for (name, values) in try tensors(headInit) { _ = net.parameters.first { $0.name == name }!.value.update(from: values) }
            net.weightsChanged()
            net.freeze(.trainOnly(Set(c.trainable)))
            net.frozenBN = c.frozen_bn == "eval" ? .eval : .train
            net.dropoutEnabled = false
            let config = opt == "sgd" ? OptimizerConfig(kind: .sgd, lr: 0.01, weightDecay: 1e-4, momentum: 0.9) : OptimizerConfig(kind: .adam, lr: 1e-3)
            let optimizer = Optimizer(config)
            let want = try JSONDecoder().decode(Steps.self, from: Data(contentsOf: dir.appendingPathComponent("\(caseName)/steps_\(opt).json")))
            let wantLogits = try floats(dir.appendingPathComponent("\(caseName)/steps_\(opt)_logits.bin"))
            let per = meta.batch * meta.classes
            for step in 0..<3 {
                let (loss, logits) = try input.withUnsafeBufferPointer {
                    try net.trainStep(images: $0, labels: meta.labels, batch: meta.batch, height: meta.height, width: meta.width,
                                      labelSmoothing: c.label_smoothing)
                }
                XCTAssertEqual(Double(loss), Double(want.losses[step]), accuracy: 2e-6 * Double(abs(want.losses[step])), "\(model)/\(caseName) \(opt) loss \(step)")
                XCTAssertLessThanOrEqual(relativeError(logits, Array(wantLogits[(step * per)..<((step + 1) * per)])), 2e-5,
                                         "\(model)/\(caseName) \(opt) logits \(step)")
                optimizer.step(net.parameters)
            }
            let sd = net.stateDict()
            for (name, values) in try tensors(dir.appendingPathComponent("\(caseName)/steps_\(opt)_params.bin")) {
                XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(sd[name]).floats(), values), 2e-5, "\(model)/\(caseName) \(opt) \(name)")
            }
            for (name, values) in try tensors(dir.appendingPathComponent("\(caseName)/steps_\(opt)_stats.bin")) {
                XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(sd[name]).floats(), values), 2e-6, "\(model)/\(caseName) \(opt) \(name)")
            }
            for (k, v) in want.num_batches_tracked { XCTAssertEqual(sd[k]?.int64s(), [v], "\(model)/\(caseName) \(k)") }
        }
    }

    func testEveryCaseWithStepFiles() throws {
        for (model, c) in [("tiny_vgg11", "all"), ("tiny_vgg11", "fc"), ("tiny_vgg11", "fc_smoothing"), ("tiny_vgg11_bn", "all"),
                           ("tiny_vgg11_bn", "append_fc_bn_eval"), ("tiny_vgg11_bn", "last_bn_eval"), ("tiny_vgg16_bn", "fc_bn_eval")] {
            try check(model, c)
        }
    }
}
