import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// torchvision's RegNets on the graph (tiny widths, every variant's real depths) against real
/// PyTorch (Fixtures/regnet, gen_regnet.py): grouped 3x3 convs, squeeze-and-excitation with ReLU
/// and sigmoid (Y), projection shortcuts; and their architecture read from keys.
final class RegNetInferenceTests: XCTestCase {
    let fixture = FamilyEvalFixture("regnet")
    static let models = RegNetFamily().variantNames.map { "tiny_" + $0 }

    func load(_ name: String) throws -> (FamilyEvalFixture.Meta, StateDict) { try fixture.load(name) }

    /// f32 and bf16 logits and probabilities against PyTorch at every input size (`FamilyEvalFixture`).
    func testEveryVariantMatchesPyTorch() throws { try fixture.everyModelMatchesPyTorch(Self.models) }

    /// torchvision's real RegNet keys and shapes: detected by name, the graph's keys torchvision's state_dict exactly.
    func testTorchvisionKeysAreDetected() throws {
        try fixture.torchvisionKeysAreDetected(variants: RegNetFamily().variantNames) { name, guess, _ in
            XCTAssertEqual(guess.family, "RegNet", name)
            XCTAssertEqual(guess.blocks.count, 4, name)
        }
    }

    /// A RegNet with a key missing or a shape wrong is refused as a RegNet, naming the keys; one
    /// without a stage is refused with what torchvision's have.
    func testBrokenRegNetIsRefused() throws {
        var (_, sd) = try load("tiny_regnet_y_400mf")
        sd["trunk_output.block2.block2-0.f.b.1.running_var"] = nil
        sd["fc.bias"] = TensorData(shape: [3], floats: [Float](repeating: 1, count: 3))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "RegNet")
            XCTAssertEqual(missing, ["trunk_output.block2.block2-0.f.b.1.running_var"])
            XCTAssertEqual(wrong.map(\.key), ["fc.bias"])
        }
        var (_, x) = try load("tiny_regnet_x_400mf")
        for k in x.keys where k.hasPrefix("trunk_output.block4.") { x[k] = nil }
        XCTAssertThrowsError(try InferenceModel(stateDict: x)) { error in
            XCTAssertTrue("\(error)".contains("[1, 2, 7, 0] blocks"), "\(error)")
        }
    }

    /// Hostile: a stranger's state dict with RegNet's keys and shapes that no RegNet has (a 0-d
    /// or 1-d tensor where a conv weight goes, zero channels, a group width that does not divide
    /// the width, a zero-row classifier, a 2-d SE weight) is refused with the key named, never a crash.
    func testHostileShapesAreRefused() throws {
        let (_, good) = try load("tiny_regnet_y_400mf")
        let cases: [(String, [Int])] = [
            ("trunk_output.block1.block1-0.f.a.0.weight", []), ("trunk_output.block1.block1-0.f.a.0.weight", [8]),
            ("trunk_output.block2.block2-0.f.b.0.weight", [0, 8, 3, 3]), ("stem.0.weight", [0, 3, 3, 3]),
            ("trunk_output.block3.block3-0.f.b.0.weight", [12, 5, 3, 3]), ("fc.weight", [0, 16]),
            ("trunk_output.block1.block1-0.f.se.fc1.weight", [2, 2]), ("trunk_output.block2.block2-0.f.c.0.weight", [8, 8, 0, 1]),
        ]
        FamilyEvalFixture.hostileShapesAreRefused(cases.map { (good, $0.0, $0.1) })
    }
}
