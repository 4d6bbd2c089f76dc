import Engine
import Foundation
import TestSupport
import XCTest
@testable import Training

/// torch.optim and nn.CrossEntropyLoss, as Fixtures/gen_optim.py recorded them.
final class OptimizerTests: XCTestCase {
    struct Fixture: Decodable {
        struct CE: Decodable { let smoothing: Float; let logits: [Float]; let labels: [Int]; let loss: Float; let grad: [Float] }
        let initial: [String: [Float]]
        let shapes: [String: [Int]]
        let grads: [[String: [Float]]]
        let steps: [String: [[String: [Float]]]]
        let crossEntropy: [CE]
        enum CodingKeys: String, CodingKey { case initial = "init", shapes, grads, steps, crossEntropy = "cross_entropy" }
    }

    func fixture() throws -> Fixture {
        let url = FixturePaths.url("optim/expected.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testTwoStepsOfEachOptimizerMatchTorch() throws {
        let f = try fixture()
        let configs: [String: OptimizerConfig] = [
            "sgd": OptimizerConfig(kind: .sgd, lr: 0.1, weightDecay: 1e-4, momentum: 0.9),
            "sgd_nesterov": OptimizerConfig(kind: .sgd, lr: 0.05, weightDecay: 1e-3, momentum: 0.9, nesterov: true),
            "sgd_plain": OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0),
            "adam": OptimizerConfig(kind: .adam, lr: 1e-3, weightDecay: 1e-4),
            "adam_plain": OptimizerConfig(kind: .adam, lr: 1e-3),
            "adamw": OptimizerConfig(kind: .adamw, lr: 1e-3, weightDecay: 0.01),
        ]
        XCTAssertEqual(Set(configs.keys), Set(f.steps.keys))
        for (name, config) in configs {
            let params = f.initial.keys.sorted().map { Parameter(name: $0, shape: f.shapes[$0]!, values: f.initial[$0]!) }
            let opt = Optimizer(config)
            for (step, grads) in f.grads.enumerated() {
                for p in params { for (i, g) in grads[p.name]!.enumerated() { p.grad[i] = g } }
                opt.step(params)
                for p in params {
                    let want = f.steps[name]![step][p.name]!
                    let scale = max(want.map(abs).max()!, 1e-6)
                    XCTAssertEqual(p.values.count, want.count, "\(name) \(p.name)")
                    for (a, b) in zip(p.values, want) {
                        XCTAssertEqual(a, b, accuracy: 1e-6 * scale, "\(name) step \(step + 1) \(p.name)")
                    }
                }
            }
        }
    }

    /// Big tensors are updated in chunks, one per compute thread: every element's update is its
    /// own, so any split gives the same bits as one pass.
    func testChunkedUpdatesEqualOnePass() {
        let saved = ComputeThreads.current
        defer { ComputeThreads.set(saved) }
        let n = 300_001  // 4 chunks of 2^16 and more, with a ragged end
        let values = (0..<n).map { Float(sin(Double($0))) }
        let grads = (0..<n).map { Float(cos(Double($0) * 0.7)) * 0.3 }
        for config in [OptimizerConfig(kind: .adam, lr: 1e-3), OptimizerConfig(kind: .adam, lr: 1e-3, weightDecay: 1e-4),
                       OptimizerConfig(kind: .adamw, lr: 1e-3, weightDecay: 0.01),
                       OptimizerConfig(kind: .sgd, lr: 0.1, weightDecay: 1e-4, momentum: 0.9, nesterov: true)] {
            var results: [[Float]] = []
            for threads in [1, 4] {
                ComputeThreads.set(threads)
                XCTAssertEqual(Optimizer.chunks(n), threads, "the split under test")
                let p = Parameter(name: "w", shape: [n], values: values)
                let opt = Optimizer(config)
                for _ in 0..<2 {
                    _ = p.grad.update(from: grads)
                    opt.step([p])
                }
                results.append(p.values)
            }
            XCTAssertTrue(results[0] == results[1], "\(config.kind) with 4 chunks differs from one pass")
            XCTAssertNotEqual(results[0], values)
        }
    }

    func testFrozenParametersDoNotMove() {
        let p = Parameter(name: "w", shape: [2], values: [1, 2])
        p.trainable = false
        p.grad[0] = 5
        Optimizer(OptimizerConfig(kind: .adam, lr: 0.1)).step([p])
        XCTAssertEqual(p.values, [1, 2])
    }

    func testCrossEntropyMatchesTorch() throws {
        for c in try fixture().crossEntropy {
            let (loss, grad) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: c.logits, labels: c.labels, classes: 5,
                                                                           labelSmoothing: c.smoothing)
            XCTAssertEqual(loss, c.loss, accuracy: 1e-5 * abs(c.loss), "smoothing \(c.smoothing)")
            XCTAssertEqual(grad.count, c.grad.count)
            for (a, b) in zip(grad, c.grad) { XCTAssertEqual(a, b, accuracy: 1e-6, "smoothing \(c.smoothing)") }
        }
    }

    func testSchedules() {
        func lr(_ s: LRSchedule, epoch: Int, epochs: Int, stepSize: Int) -> Double {
            LRScheduler(schedule: s, base: 0.1, epochs: epochs, stepsPerEpoch: 5, stepSize: stepSize).lr(epoch: epoch, batch: 3)
        }
        // Per epoch: the same rate for every step of an epoch (ScheduleTests compares per step with torch).
        XCTAssertEqual(lr(.cosineEpoch, epoch: 0, epochs: 4, stepSize: 1), 0.1, accuracy: 1e-12)
        XCTAssertEqual(lr(.cosineEpoch, epoch: 2, epochs: 4, stepSize: 1), 0.05, accuracy: 1e-12)
        XCTAssertEqual(lr(.step, epoch: 3, epochs: 9, stepSize: 3), 0.01, accuracy: 1e-12)
        XCTAssertEqual(lr(.none, epoch: 5, epochs: 9, stepSize: 3), 0.1)
    }
}
