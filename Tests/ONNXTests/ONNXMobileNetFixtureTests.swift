import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision MobileNets of Fixtures/mobilenet (real PyTorch), exported and evaluated
/// op by op (`ONNXReference`): Clip (ReLU6), HardSwish, HardSigmoid, the squeeze-and-excitation
/// Mul broadcast over H and W, depthwise Conv groups; the ONNX model gives torch's eval logits.
/// With GRAFT_ONNX_OUT=<folder> the models are written there for Fixtures/check_onnx.py.
final class ONNXMobileNetFixtureTests: XCTestCase {
    struct Meta: Decodable {
        struct Case: Decodable { let batch: Int; let height: Int; let width: Int; let input: String }
        let variant: String
        let cases: [String: Case]
    }

    func testEvalFixturesMatchTorch() throws {
        XCTAssertEqual(try Self.checkEvalFixtures("mobilenet/models", ["tiny_mobilenet_v2", "tiny_mobilenet_v3_large", "tiny_mobilenet_v3_small"]), 6)
    }

    /// Each model of a family's eval fixtures (`<folder>/<model>`) exported and evaluated op by op
    /// at every case but 96x80, against torch's logits; the count of cases checked.
    static func checkEvalFixtures(_ folder: String, _ models: [String]) throws -> Int {
        let root = FixturePaths.url(folder)
        var checked = 0
        for name in models {
            let dir = root.appendingPathComponent(name)
            let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
            let sd = try ONNXVGGFixtureTests.weights(dir)
            let g = try Architecture.detect(sd).graph
            XCTAssertEqual(g.tensors.map(\.key), sd.keys, "\(name): the graph's keys are the state dict's, in order")
            for (caseName, c) in meta.cases.sorted(by: { $0.key < $1.key }) where caseName != "96x80" {
                let input = try ONNXVGGFixtureTests.floats(root.appendingPathComponent(c.input))
                let want = try ONNXVGGFixtureTests.floats(dir.appendingPathComponent("logits_\(caseName).bin"))
                try ONNXVGGFixtureTests.check(name: "\(name)_\(caseName)", graph: g, stateDict: sd, input: input, batch: c.batch,
                                              height: c.height, width: c.width, want: want)
                checked += 1
            }
        }
        return checked
    }
}
