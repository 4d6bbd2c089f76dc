import Checkpoint
import Engine
import Foundation
@testable import Models
import TestSupport
import XCTest

/// torchvision's DenseNets on the graph (tiny widths, every variant's real blocks) against real
/// PyTorch (Fixtures/densenet, gen_densenet.py): concatenation, batch norms before their convs
/// (with ReLU fused), 2x2 average pooling in the transitions; the architecture read from keys,
/// in their new spelling and the old one of torchvision's download files.
final class DenseNetInferenceTests: XCTestCase {
    let fixture = FamilyEvalFixture("densenet")
    static let models = DenseNetFamily().variantNames.map { "tiny_" + $0 }

    func load(_ name: String) throws -> (FamilyEvalFixture.Meta, StateDict) { try fixture.load(name) }

    /// f32 and bf16 logits and probabilities against PyTorch at every input size (`FamilyEvalFixture`).
    func testEveryVariantMatchesPyTorch() throws { try fixture.everyModelMatchesPyTorch(Self.models) }

    /// torchvision's real DenseNet keys and shapes: detected by name, the graph's keys torchvision's state_dict exactly.
    func testTorchvisionKeysAreDetected() throws {
        try fixture.torchvisionKeysAreDetected(variants: DenseNetFamily().variantNames) { name, guess, _ in
            XCTAssertEqual(guess.family, "DenseNet", name)
            XCTAssertEqual(guess.blocks.count, 4, name)
        }
    }

    /// The plan: `norm2` folds into `conv1` (ReLU fused into the conv); `norm1`, the transitions'
    /// `norm` and `norm5` follow a concatenation (normalised where its inputs are, the
    /// concatenation never made: `ConcatBatchNorm`) or, in each block's first layer, a pool (the
    /// same op with one input); no activation runs on its own.
    func testThePlanFusesWhatItCan() throws {
        let (_, sd) = try load("tiny_densenet121")
        let model = try InferenceModel(stateDict: sd)
        var counts: [String: Int] = [:]
        for s in model.steps {
            let kind: String
            switch s.kind {
            case .conv(_, let bn, let add): kind = bn == nil && add == nil ? "conv" : "conv+"
            case .batchNorm(let bn): kind = bn.activation == .relu ? "bn+relu" : "bn"
            case .activation: kind = "activation"
            case .concat: kind = "concat"
            case .concatBatchNorm(let c): kind = c.activation == .relu ? "concat+bn+relu" : "concat+bn"
            case .avgPool: kind = "avgpool"
            default: kind = "other"
            }
            counts[kind, default: 0] += 1
        }
        let layers = 6 + 12 + 24 + 16
        XCTAssertEqual(counts["conv"], 1 + 2 * layers + 3)
        // Each block's first layer normalises the block's input (a pool's output), the rest a
        // concatenation: one op, one input or several.
        XCTAssertEqual(counts["concat+bn+relu"], layers + 3 + 1)
        XCTAssertNil(counts["bn+relu"])
        XCTAssertNil(counts["concat"])
        XCTAssertEqual(counts["avgpool"], 3)
        XCTAssertNil(counts["activation"])
        XCTAssertNil(counts["bn"])
        XCTAssertNil(counts["conv+"])
    }

    /// torchvision's download files spell the layers' modules the old way (`norm.1`): read as
    /// torchvision's loader reads them (as every command reads weights), the same model (the fixture's
    /// two files of one model).
    func testOldKeySpellingIsRenamed() throws {
        let dir = FixturePaths.url("densenet/predict")
        let new = try Checkpoint(contentsOf: dir.appendingPathComponent("tiny_densenet121.pth").path, options: .torchvisionModel())
        let old = try Checkpoint(contentsOf: dir.appendingPathComponent("tiny_densenet121_legacy_keys.pth").path, options: .torchvisionModel())
        XCTAssertTrue(old.notes.contains { $0.contains("renamed") && $0.contains("denselayer1.norm.1.weight") }, "\(old.notes)")
        XCTAssertFalse(new.notes.contains { $0.contains("renamed") }, "\(new.notes)")
        let newSD = new.stateDict, oldSD = old.stateDict
        let renamed = oldSD.keys.filter { $0.contains(".norm.1.") || $0.contains(".conv.2.") }
        XCTAssertTrue(renamed.isEmpty, "\(renamed)")
        // Old files have no num_batches_tracked in the layers; everything else is the same tensor.
        let layerCounters = newSD.keys.filter { $0.contains("denselayer") && $0.hasSuffix("num_batches_tracked") }
        XCTAssertFalse(layerCounters.isEmpty)
        XCTAssertEqual(Set(oldSD.keys), Set(newSD.keys).subtracting(layerCounters))
        for k in oldSD.keys { XCTAssertEqual(oldSD[k], newSD[k], k) }
        let x: [Float] = (0..<(2 * 3 * 40 * 36)).map { (i: Int) -> Float in Float((i * 7919) % 1000) / 500 - 1 }
        XCTAssertEqual(try InferenceModel(stateDict: oldSD).logits(images: x, batch: 2, height: 40, width: 36),
                       try InferenceModel(stateDict: newSD).logits(images: x, batch: 2, height: 40, width: 36))
    }

    /// A DenseNet with a key missing or a shape wrong is refused as a DenseNet, naming the keys;
    /// one with an empty block is refused with what torchvision's have.
    func testBrokenDenseNetIsRefused() throws {
        var (_, sd) = try load("tiny_densenet121")
        sd["features.denseblock2.denselayer3.norm2.running_var"] = nil
        sd["classifier.bias"] = TensorData(shape: [3], floats: [Float](repeating: 1, count: 3))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "DenseNet")
            XCTAssertEqual(missing, ["features.denseblock2.denselayer3.norm2.running_var"])
            XCTAssertEqual(wrong.map(\.key), ["classifier.bias"])
        }
        var (_, empty) = try load("tiny_densenet121")
        for k in empty.keys where k.hasPrefix("features.denseblock3.denselayer1.") { empty[k] = nil }
        XCTAssertThrowsError(try InferenceModel(stateDict: empty)) { error in
            XCTAssertTrue("\(error)".contains("[6, 12, 0, 16] layers"), "\(error)")
        }
    }

    /// Hostile: a stranger's state dict with DenseNet's keys and shapes no DenseNet has (a 0-d or
    /// 1-d tensor where a conv weight goes, zero channels, a growth that disagrees with the next
    /// layer's input, a zero-row classifier, a 2-d batch norm) is refused with the key named, never a crash.
    func testHostileShapesAreRefused() throws {
        let (_, good) = try load("tiny_densenet121")
        let cases: [(String, [Int])] = [
            ("features.conv0.weight", []), ("features.conv0.weight", [0, 3, 7, 7]),
            ("features.denseblock1.denselayer1.conv2.weight", [0, 8, 3, 3]),
            ("features.denseblock1.denselayer1.conv2.weight", [5, 8, 3, 3]),
            ("features.denseblock1.denselayer1.conv1.weight", [8]),
            ("features.transition1.conv.weight", [0, 32, 1, 1]),
            ("features.transition2.conv.weight", [7, 64, 1, 1]), ("features.denseblock2.denselayer1.norm2.weight", [9]),
            ("features.denseblock1.denselayer2.norm1.weight", [0]), ("features.denseblock1.denselayer2.norm1.weight", [8]),
            ("classifier.weight", [0, 240]), ("features.norm5.weight", [2, 2]),
        ]
        FamilyEvalFixture.hostileShapesAreRefused(cases.map { (good, $0.0, $0.1) })
    }
}
