import Checkpoint
import Models
import Foundation
import XCTest
@testable import Training

/// finetune's --weights as people save them (Fixtures/wrapped, real torch): a whole pickled
/// wrapper with allowObjects, a backbone saved without fc, a ResNet among other keys.
extension FinetuneTests {
    func wrapped(_ name: String) -> String { Self.fixtures.appendingPathComponent("wrapped/\(name)").path }

    func testWholePickledWrapperWithAllowObjects() throws {
        var c = config(try workdir("whole"))
        c.weights = wrapped("whole_wrapper.pth")
        XCTAssertThrowsError(try Finetune.loadWeights(c, log: { _ in })) {
            XCTAssertTrue("\($0)".contains("pass --allow-objects"), "\($0)")
        }
        var logged: [String] = []
        let sd = try XCTUnwrap(try Finetune.loadWeights(c, allowObjects: true, log: { logged.append($0) }))
        XCTAssertEqual(sd, try Checkpoint(contentsOf: c.weights!, options: .resNet(allowObjects: true)).stateDict)
        XCTAssertEqual(sd["fc.weight"]?.shape, [5, 8], "the ResNet's own fc")
        XCTAssertEqual(logged, ["\(c.weights!): removed the prefix 'backbone.' from every key"])
        XCTAssertEqual(ArchitectureGuess(sd).name, "resnet18")
    }

    /// A backbone without fc trains a new head (--head replace); --head append, which keeps the
    /// pretrained fc, says it has none.
    func testBackboneWithoutFCTrainsANewHead() throws {
        let dir = try workdir("nofc")
        var c = config(dir, epochs: 2)
        c.weights = wrapped("encoder_nofc.pth")
        var logged: [String] = []
        let sd = try XCTUnwrap(try Finetune.loadWeights(c, log: { logged.append($0) }))
        XCTAssertNil(sd["fc.weight"], "the backbone as saved: Network makes the new head, no placeholder fc stands in")
        XCTAssertTrue(logged.contains { $0.contains("no fc") }, "\(logged)")
        let original = try Checkpoint(contentsOf: c.weights!, options: .resNet()).stateDict
        for policy in [TrainConfig.Policy.fc, .all] {
            c.policy = policy
            let t = try train(c)
            XCTAssertEqual(t.history.count, 2)
            let saved = try Checkpoint(contentsOf: c.output).stateDict
            XCTAssertEqual(saved["fc.weight"]?.shape, [3, 8], "\(policy)")
            if policy == .fc { XCTAssertEqual(saved["layer4.0.conv2.weight"], original["layer4.0.conv2.weight"], "the trunk is the file's") }
        }
        c.head = .append
        XCTAssertThrowsError(try Finetune.loadWeights(c, log: { _ in })) {
            XCTAssertTrue("\($0)".contains("has no fc") && "\($0)".contains("use --head replace"), "\($0)")
        }
    }

    func testResNetAmongOtherKeysIsRefused() throws {
        var c = config(try workdir("outside"))
        c.weights = wrapped("backbone_head.pth")
        XCTAssertThrowsError(try Finetune.loadWeights(c, log: { _ in })) {
            XCTAssertEqual(($0 as? CheckpointError)?.category, "keys_outside_resnet", "\($0)")
            XCTAssertTrue("\($0)".contains("head.weight, head.bias"), "\($0)")
        }
    }
}
