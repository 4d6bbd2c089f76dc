import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// The inference plan on a graph no family has yet: a residual that is read again after the
/// add it would be fused into must not be overwritten in place (the folded plan then adds in a
/// separate op), and the folded plan equals the unfolded one.
final class GraphPlanTests: XCTestCase {
    func testAResidualReadAfterItsAddIsNotOverwritten() throws {
        var g = Graph()
        let root = ModulePath.root
        let c = g.add(.conv(.init(out: 3, in: 3, kernel: 3, padding: 1)), 0, path: root.pp("conv"))
        let b = g.add(.batchNorm(.init(channels: 3)), c, path: root.pp("bn"))
        let a = g.add(.activation(.relu), g.add(.add, b, 0))
        let again = g.add(.add, a, 0)              // the image is read once more, after the first add
        let pooled = g.add(.adaptiveAvgPool(height: 1, width: 1), again)
        g.add(.linear(.init(out: 2, in: 3)), g.add(.flatten, pooled), path: root.pp("fc"))
        let arch = try XCTUnwrap(Families.architecture(variant: "resnet18"))
        let custom = Architecture(family: arch.family, name: "graph(test)", graph: g, head: .linear(classes: 2), features: g.nodes.count - 1,
                                  featureCount: 3, stageCount: 1, fileName: "test.pth", rebuild: { _ in arch })
        let sd = randomStateDict(shapes: custom.tensors)
        var x = [Float](repeating: 0, count: 2 * 3 * 6 * 6)
        for i in x.indices { x[i] = Float((i * 37) % 17) / 17 - 0.4 }
        let folded = try InferenceModel(architecture: custom, values: sd).logits(images: x, batch: 2, height: 6, width: 6)
        let unfolded = try InferenceModel(architecture: custom, values: sd, foldBatchNorm: false).logits(images: x, batch: 2, height: 6, width: 6)
        XCTAssertLessThanOrEqual(maxRelativeError(folded, unfolded, rows: 2), 1e-5)
        XCTAssertEqual(folded.count, 4)
    }
}
