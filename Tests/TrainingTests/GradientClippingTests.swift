import Engine
import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--clip-grad-norm`: torch.nn.utils.clip_grad_norm_ before SGD and Adam steps, as
/// Fixtures/gen_clip.py recorded it.
final class GradientClippingTests: XCTestCase {
    struct Fixture: Decodable {
        struct Step: Decodable { let norm: Double; let grads: [String: [Float]]; let clipped: [String: [Float]]; let after: [String: [Float]] }
        struct Case: Decodable { let maxNorm: Double; let steps: [Step]; enum CodingKeys: String, CodingKey { case maxNorm = "max_norm", steps } }
        let initial: [String: [Float]]
        let shapes: [String: [Int]]
        let grads: [[String: [Float]]]
        let cases: [String: Case]
        enum CodingKeys: String, CodingKey { case initial = "init", shapes, grads, cases }
    }

    static func assertClose(_ a: [Float], _ b: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        let scale = max(b.map(abs).max() ?? 0, 1e-6)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-6 * scale, what, file: file, line: line) }
    }

    func testClippedGradientsAndStepsMatchTorch() throws {
        let f = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: FixturePaths.url("clip/expected.json")))
        let configs: [String: OptimizerConfig] = [
            "sgd_clip_0.5": OptimizerConfig(kind: .sgd, lr: 0.1, weightDecay: 1e-4, momentum: 0.9),
            "adam_clip_0.5": OptimizerConfig(kind: .adam, lr: 1e-3),
            "sgd_clip_2": OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0),
            "sgd_clip_100": OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0.9),
            "sgd_clip_tiny": OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0.9),
        ]
        XCTAssertEqual(Set(configs.keys), Set(f.cases.keys))
        for (name, config) in configs {
            let c = f.cases[name]!
            let params = f.initial.keys.sorted().map { Parameter(name: $0, shape: f.shapes[$0]!, values: f.initial[$0]!) }
            let opt = Optimizer(config)
            for s in f.grads.indices {
                for p in params { for (i, g) in c.steps[s].grads[p.name]!.enumerated() { p.grad[i] = g } }
                let norm = GradientClipping.clip(params, maxNorm: c.maxNorm)
                XCTAssertEqual(norm, c.steps[s].norm, accuracy: 1e-6 * c.steps[s].norm, "\(name) step \(s + 1): the total norm")
                for p in params { Self.assertClose(Array(p.grad), c.steps[s].clipped[p.name]!, "\(name) step \(s + 1) \(p.name)'s clipped gradient") }
                opt.step(params)
                for p in params { Self.assertClose(p.values, c.steps[s].after[p.name]!, "\(name) step \(s + 1) \(p.name) after the step") }
            }
        }
    }

    /// Frozen parameters neither count in the norm nor change.
    func testFrozenGradientsAreLeftOut() {
        let a = Parameter(name: "a", shape: [2], values: [0, 0]), b = Parameter(name: "b", shape: [1], values: [0])
        a.grad[0] = 3; a.grad[1] = 4; b.grad[0] = 100; b.trainable = false
        XCTAssertEqual(GradientClipping.clip([a, b], maxNorm: 1), 5, accuracy: 1e-12)
        XCTAssertEqual(a.grad[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(a.grad[1], 0.8, accuracy: 1e-6)
        XCTAssertEqual(b.grad[0], 100)
    }
}
