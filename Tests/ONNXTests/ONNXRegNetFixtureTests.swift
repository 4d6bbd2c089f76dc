import Checkpoint
import Foundation
import Models
import ONNX
import TestSupport
import XCTest

/// The tiny torchvision RegNets of Fixtures/regnet (real PyTorch), exported and evaluated op by
/// op (`ONNXReference`): grouped Conv, the squeeze-and-excitation's Relu, Sigmoid and broadcast
/// Mul, projection shortcuts; the ONNX model gives torch's eval logits. With GRAFT_ONNX_OUT=<folder> the models are written there for
/// Fixtures/check_onnx.py.
final class ONNXRegNetFixtureTests: XCTestCase {
    static let models = ["tiny_regnet_y_400mf", "tiny_regnet_x_400mf", "tiny_regnet_x_8gf"]

    func testEvalFixturesMatchTorch() throws {
        let root = FixturePaths.url("regnet/models")
        var checked = 0
        for name in Self.models {
            let dir = root.appendingPathComponent(name)
            let meta = try JSONDecoder().decode(ONNXMobileNetFixtureTests.Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
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
        XCTAssertEqual(checked, 6)
    }
}
