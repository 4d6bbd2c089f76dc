import Checkpoint
import Engine
import Foundation
@testable import Models
import TestSupport
import XCTest

/// torchvision's Inception V3 on the graph (its real architecture at 1/8 of its widths) against
/// real PyTorch (Fixtures/inception, gen_inception.py): transform_input, factorised 1x7/7x1 and
/// 1x3/3x1 convs, branches concatenated, 3x3 average pools with count_include_pad, batch norm
/// eps 1e-3, with and without the auxiliary classifier (which evaluation leaves out).
final class InceptionInferenceTests: XCTestCase {
    let fixture = FamilyEvalFixture("inception")
    static let models = ["tiny_inception_v3", "tiny_inception_v3_noaux"]

    func load(_ name: String) throws -> (FamilyEvalFixture.Meta, StateDict) { try fixture.load(name) }

    func testEveryModelMatchesPyTorch() throws { try fixture.everyModelMatchesPyTorch(Self.models) }

    /// torchvision's real keys and shapes (AuxLogits between Mixed_6e and Mixed_7a): named, in order.
    func testTorchvisionKeysAreDetected() throws {
        try fixture.torchvisionKeysAreDetected(variants: InceptionFamily().variantNames) { name, guess, convs in
            XCTAssertEqual(guess.family, "Inception", name)
            XCTAssertEqual(guess.blocks, [21, 46, 24], name)   // convs of Mixed_5*, Mixed_6* with AuxLogits, Mixed_7*
            XCTAssertEqual(convs, 5 + 21 + 46 + 24, name)
        }
    }

    /// The auxiliary classifier: after the main graph (so evaluation, inference plans and ONNX
    /// leave it out), reading Mixed_6e, its loss weighted 0.4, its keys saved before Mixed_7a's.
    func testTheAuxiliaryClassifierIsTrainingOnly() throws {
        let arch = try XCTUnwrap(Families.architecture(variant: "inception_v3", head: .linear(classes: 5)))
        let g = arch.graph
        let aux = try XCTUnwrap(g.auxiliary.first)
        XCTAssertEqual(aux.lossWeight, 0.4)
        XCTAssertEqual(aux.head, ModulePath.root.pp("AuxLogits").pp("fc"))
        XCTAssertEqual(aux.value, g.nodes.count)
        XCTAssertLessThan(g.output, aux.value)
        XCTAssertEqual(g.nodes[g.output - 1].path, ModulePath.root.pp("fc"))
        XCTAssertEqual(g.main.nodes.count, g.output)
        XCTAssertFalse(g.main.nodes.contains { $0.path.components.first == "AuxLogits" })
        XCTAssertEqual(g.producer(of: aux.input)?.op, .concat)
        XCTAssertEqual(g.nodes[aux.input - 1].stage, 1)
        let keys = arch.tensors.map(\.key)
        let first = try XCTUnwrap(keys.firstIndex { $0.hasPrefix("AuxLogits.") })
        XCTAssertTrue(keys[first - 1].hasPrefix("Mixed_6e.branch_pool.bn."), keys[first - 1])
        XCTAssertEqual(keys[first + 12], "AuxLogits.fc.weight")
        XCTAssertTrue(keys[first + 14].hasPrefix("Mixed_7a."), keys[first + 14])
        XCTAssertEqual(arch.minimumTrainingSize, 299)
    }

    /// transform_input's constants are torchvision's Python doubles rounded once to float32.
    func testTransformInputIsTorchvisions() throws {
        let arch = try XCTUnwrap(Families.architecture(variant: "inception_v3"))
        guard case let .channelAffine(scale, shift) = arch.graph.nodes[0].op else { return XCTFail("\(arch.graph.nodes[0].op)") }
        XCTAssertEqual(scale, [Float(0.229 / 0.5), Float(0.224 / 0.5), Float(0.225 / 0.5)])
        XCTAssertEqual(shift, [Float((0.485 - 0.5) / 0.5), Float((0.456 - 0.5) / 0.5), Float((0.406 - 0.5) / 0.5)])
        // Multiply then add, each rounded: torch's two ops, not a fused multiply-add.
        let a = try ChannelAffine(scale: scale, shift: shift)
        let x: [Float] = [0.1234567, -1.7654321, 2.5, 0.333333]
        let y = try a.forward(Tensor(shape: [1, 3, 2, 2], values: x + x + x)).floats()
        for c in 0..<3 { for i in 0..<4 { XCTAssertEqual(y[c * 4 + i], x[i] * scale[c] + shift[c]) } }
    }

    /// A state dict without AuxLogits (aux_logits=False) has no auxiliary classifier; with it,
    /// the plan is the same as without.
    func testWithAndWithoutTheAuxiliaryClassifier() throws {
        let (_, noAux) = try load("tiny_inception_v3_noaux")
        XCTAssertTrue(try Architecture.detect(noAux).graph.auxiliary.isEmpty)
        let (_, sd) = try load("tiny_inception_v3")
        let with = try InferenceModel(stateDict: sd)
        var stripped = StateDict()
        for (k, v) in sd.items where !k.hasPrefix("AuxLogits.") { stripped[k] = v }
        let without = try InferenceModel(stateDict: stripped)
        XCTAssertEqual(with.steps.count, without.steps.count)
        let x: [Float] = (0..<(2 * 3 * 80 * 90)).map { i -> Float in Float((i * 37) % 101) / 50 - 1 }
        XCTAssertEqual(try with.logits(images: x, batch: 2, height: 80, width: 90), try without.logits(images: x, batch: 2, height: 80, width: 90))
    }

    /// An Inception with a key missing or a shape wrong is refused as an Inception, naming the keys.
    func testBrokenAndHostileInceptionIsRefused() throws {
        var (_, sd) = try load("tiny_inception_v3")
        sd["Mixed_6c.branch7x7_2.bn.bias"] = nil
        sd["fc.bias"] = TensorData(shape: [2], floats: [1, 1])
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "Inception")
            XCTAssertEqual(missing, ["Mixed_6c.branch7x7_2.bn.bias"])
            XCTAssertEqual(wrong.map(\.key), ["fc.bias"])
        }
        let (_, good) = try load("tiny_inception_v3")
        let cases: [(String, [Int])] = [
            ("Conv2d_1a_3x3.conv.weight", []), ("Mixed_5b.branch1x1.conv.weight", [8, 24, 1]), ("Mixed_6b.branch7x7_2.conv.weight", [16, 16, 7, 1]),
            ("Mixed_7b.branch3x3_2a.conv.weight", [0, 48, 1, 3]), ("AuxLogits.conv1.conv.weight", [96, 16, 5, 5, 1]),
            ("AuxLogits.fc.weight", [0, 96]), ("fc.weight", [5, 255]), ("Mixed_5b.branch_pool.bn.running_var", [0]),
        ]
        FamilyEvalFixture.hostileShapesAreRefused(cases.map { (good, $0.0, $0.1) })

        // A partial AuxLogits, or one predicting other classes than fc: refused, naming the keys.
        var partial = good
        partial["AuxLogits.conv1.conv.weight"] = nil
        XCTAssertThrowsError(try InferenceModel(stateDict: partial)) { error in
            guard case let ModelError.layoutMismatch(_, missing, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(missing, ["AuxLogits.conv1.conv.weight"])
        }
        var otherClasses = good
        let auxIn = try XCTUnwrap(good["AuxLogits.fc.weight"]).shape[1]
        otherClasses["AuxLogits.fc.weight"] = TensorData(shape: [7, auxIn], floats: [Float](repeating: 0.1, count: 7 * auxIn))
        otherClasses["AuxLogits.fc.bias"] = TensorData(shape: [7], floats: [Float](repeating: 0, count: 7))
        XCTAssertThrowsError(try InferenceModel(stateDict: otherClasses)) { error in
            guard case let ModelError.layoutMismatch(_, _, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(Set(wrong.map(\.key)), ["AuxLogits.fc.weight", "AuxLogits.fc.bias"])
        }
    }
}
