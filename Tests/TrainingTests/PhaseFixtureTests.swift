import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
@testable import Training
import XCTest

/// `--head-epochs` with `--lr-slice` and `--lr-backbone` against PyTorch (Fixtures/phases,
/// gen_phases.py): two whole Adam steps of the head alone (the trunk frozen, its batch norms in
/// eval mode), then two of everything, each layer group at its own rate, the trunk's Adam state
/// starting when it joins. The phases and rates come from the trainer's own rules
/// (`TrainConfig.freezePolicy(epoch:)`, `Trainer.lrFactors`).
final class PhaseFixtureTests: XCTestCase {
    struct Case: Decodable { let losses: [Float]; let rates: [Double]; let head_lr: Double; let num_batches_tracked: [String: Int64] }
    struct Meta: Decodable { let batch: Int, height: Int, width: Int, labels: [Int], classes: Int }
    func floats(_ url: URL) throws -> [Float] { try FixtureTensors.floats(url) }
    func tensors(_ url: URL) throws -> [(String, [Float])] { try FixtureTensors.named(url).map { ($0.name, $0.values) } }

    func check(_ name: String, _ set: (inout TrainConfig) -> Void) throws {
        let src = FixturePaths.url("training/basic"), dir = FixturePaths.url("phases/\(name)")
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: src.appendingPathComponent("meta.json")))
        let want = try JSONDecoder().decode(Case.self, from: Data(contentsOf: dir.appendingPathComponent("case.json")))
        let input = try floats(src.appendingPathComponent("input.bin"))
        let net = try Network(stateDict: try Checkpoint(contentsOf: src.appendingPathComponent("initial.pth").path).stateDict,
                              head: .replace(numClasses: meta.classes), seed: 1)
        for (key, values) in try tensors(src.appendingPathComponent("head_init.bin")) {
            _ = net.parameters.first { $0.name == key }!.value.update(from: values)
        }
        net.weightsChanged()
        net.frozenBN = .eval
        net.convolution = .direct
        var c = TrainConfig(data: "unused", classes: meta.classes)
        c.policy = .all
        c.epochs = 2
        c.headEpochs = 1
        c.optimizer = OptimizerConfig(kind: .adam, lr: want.head_lr)
        set(&c)
        let optimizer = Optimizer(c.optimizer)
        for step in 0..<4 {
            let epoch = step / 2   // two steps an epoch
            if c.freezePolicy(epoch: epoch) != net.freezePolicy { net.freeze(c.freezePolicy(epoch: epoch)) }
            optimizer.lrFactors = Trainer.lrFactors(model: net, config: c)
            XCTAssertEqual(net.parameters.filter(\.trainable).count, epoch == 0 ? 2 : net.parameters.count, "\(name) step \(step)")
            let (loss, _) = try input.withUnsafeBufferPointer {
                try net.trainStep(images: $0, labels: meta.labels, batch: meta.batch, height: meta.height, width: meta.width)
            }
            XCTAssertEqual(Double(loss), Double(want.losses[step]), accuracy: 3e-6 * Double(abs(want.losses[step])), "\(name) loss \(step)")
            optimizer.step(net.parameters)
        }
        // Every parameter's rate is its layer group's.
        for p in net.parameters {
            let group = ["layer1": 0, "layer2": 1, "layer3": 2, "layer4": 3, "fc": 4][String(p.name.split(separator: ".")[0])] ?? 0
            XCTAssertEqual(optimizer.rate(p), want.rates[group], accuracy: 1e-15 * want.rates[group], "\(name) \(p.name)'s rate")
        }
        let sd = net.stateDict()
        for (key, values) in try tensors(dir.appendingPathComponent("params.bin")) {
            XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(sd[key]).floats(), values), 2e-5, "\(name) \(key)")
        }
        for (key, values) in try tensors(dir.appendingPathComponent("stats.bin")) {
            XCTAssertLessThanOrEqual(relativeError(try XCTUnwrap(sd[key]).floats(), values), 2e-6, "\(name) \(key)")
        }
        for (k, v) in want.num_batches_tracked { XCTAssertEqual(sd[k]?.int64s(), [v], "\(name) \(k)") }
    }

    func testHeadPhaseThenSliceRatesAsPyTorch() throws {
        try check("slice") { $0.lrSlice = 1e-4 }
    }

    func testHeadPhaseThenBackboneRateAsPyTorch() throws {
        try check("backbone") { $0.lrBackbone = 1e-3 }
    }
}
