import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// torchvision's EfficientNets on the graph (tiny widths, every variant's real blocks) against
/// real PyTorch (Fixtures/efficientnet, gen_efficientnet.py): SiLU, squeeze-and-excitation with
/// sigmoid, FusedMBConv (v2), batch norm eps 1e-3 (b5-b7, v2); and their architecture read from keys.
final class EfficientNetInferenceTests: XCTestCase {
    static let root = FixturePaths.url("efficientnet")
    static let models = (0...7).map { "tiny_efficientnet_b\($0)" } + ["s", "m", "l"].map { "tiny_efficientnet_v2_\($0)" }

    struct Meta: Decodable {
        struct Case: Decodable { let batch: Int; let height: Int; let width: Int; let input: String; let bf16_max_abs_diff: Double }
        let variant: String
        let detected_as: String
        let classes: Int
        let cases: [String: Case]
    }

    func load(_ name: String) throws -> (Meta, StateDict) {
        let dir = Self.root.appendingPathComponent("models/\(name)")
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        return (meta, try ModelFixture.stateDict(in: dir))
    }

    /// f32 logits within 1e-4 (relative to each row's largest), folded and unfolded, and
    /// probabilities within 1e-5, at every input size; bf16 within a few times PyTorch's own autocast distance.
    func testEveryVariantMatchesPyTorch() throws {
        for name in Self.models {
            let (meta, sd) = try load(name)
            let folded = try InferenceModel(stateDict: sd)
            XCTAssertEqual(folded.name, meta.detected_as, name)
            XCTAssertEqual(folded.numClasses, meta.classes)
            let unfolded = try InferenceModel(stateDict: sd, foldBatchNorm: false)
            for (c, k) in meta.cases.sorted(by: { $0.key < $1.key }) {
                let dir = Self.root.appendingPathComponent("models")
                let x = try float32s(at: dir.appendingPathComponent(k.input))
                let want = try float32s(at: dir.appendingPathComponent("\(name)/logits_\(c).bin"))
                let wantP = try float32s(at: dir.appendingPathComponent("\(name)/probs_\(c).bin"))
                for (label, model) in [("folded", folded), ("unfolded", unfolded)] {
                    let logits = try model.logits(images: x, batch: k.batch, height: k.height, width: k.width)
                    let rel = maxRelativeError(logits, want, rows: k.batch)
                    print("[efficientnet] \(name) \(c) \(label): logits max rel \(rel)")
                    XCTAssertLessThanOrEqual(rel, 1e-4, "\(name) \(c) \(label): logits differ from PyTorch")
                }
                let p = try folded.probabilities(images: x, batch: k.batch, height: k.height, width: k.width)
                XCTAssertLessThanOrEqual(maxAbsError(p, wantP), 1e-5, "\(name) \(c): probabilities")
                if CPUCapabilities.current.bf16 != .unavailable {
                    let bf16 = try InferenceModel(stateDict: sd, precision: .bf16).logits(images: x, batch: k.batch, height: k.height, width: k.width)
                    let torchBF16 = try float32s(at: dir.appendingPathComponent("\(name)/logits_bf16_\(c).bin"))
                    let tol = max(4 * k.bf16_max_abs_diff, 0.01 * Double(want.map(abs).max()!))
                    XCTAssertLessThanOrEqual(maxAbsError(bf16, want), tol, "\(name) \(c) bf16 (torch autocast: \(maxAbsError(torchBF16, want)))")
                }
            }
        }
    }

    /// torchvision's real EfficientNet keys and shapes (width 1, 1000 classes): detected by name
    /// (b1 and b2, with the same blocks, by their widths), and the graph's keys are torchvision's
    /// state_dict exactly (order and shapes).
    func testTorchvisionKeysAreDetected() throws {
        let url = Self.root.appendingPathComponent("torchvision_keys.json")
        let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: [[Any]]]
        XCTAssertEqual(Set(raw.keys), Set(EfficientNetFamily().variantNames))
        for (name, rows) in raw {
            let shapes = rows.map { ($0[0] as! String, ($0[1] as! [NSNumber]).map(\.intValue)) }
            let arch = try Architecture.detect(shapes)
            XCTAssertEqual(arch.name, name)
            XCTAssertEqual(arch.numClasses, 1000)
            XCTAssertEqual(arch.fileName, name + ".pth")
            XCTAssertEqual(arch.tensors.map(\.key), shapes.map(\.0), name)
            XCTAssertEqual(arch.tensors.map(\.shape), shapes.map(\.1), name)
            XCTAssertEqual(Families.architecture(variant: name)?.tensors.map(\.key), shapes.map(\.0), name)
            XCTAssertEqual(Families.architecture(variant: name)?.tensors.map(\.shape), shapes.map(\.1), name)
            let guess = ArchitectureGuess(keys: shapes.map(\.0), shapes: { k in shapes.first { $0.0 == k }?.1 })
            XCTAssertEqual(guess.name, name)
            // inspect_weights' "convs per stage": every conv but the stem's, in the feature stages.
            let convs = shapes.filter { $0.1.count == 4 }.count
            XCTAssertEqual(guess.blocks.reduce(0, +), convs - 1, name)
            XCTAssertEqual(guess.blocks.count, name.hasPrefix("efficientnet_v2_s") ? 6 : 7, name)
        }
    }

    /// An EfficientNet with a key missing or a shape wrong is refused as an EfficientNet, naming
    /// the keys; one with a block too few is refused with torchvision's block counts.
    func testBrokenEfficientNetIsRefused() throws {
        var (_, sd) = try load("tiny_efficientnet_b0")
        sd["features.2.0.block.1.1.running_var"] = nil
        sd["classifier.1.bias"] = TensorData(shape: [3], floats: [Float](repeating: 1, count: 3))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "EfficientNet")
            XCTAssertEqual(missing, ["features.2.0.block.1.1.running_var"])
            XCTAssertEqual(wrong.map(\.key), ["classifier.1.bias"])
        }
        var (_, b0) = try load("tiny_efficientnet_b0")
        for k in b0.keys where k.hasPrefix("features.6.3.") { b0[k] = nil }
        XCTAssertThrowsError(try InferenceModel(stateDict: b0)) { error in
            XCTAssertTrue("\(error)".contains("[1, 2, 2, 3, 3, 3, 1] blocks per stage") && "\(error)".contains("efficientnet_b0 has [1, 2, 2, 3, 3, 4, 1]"), "\(error)")
        }
    }

    /// Hostile: a stranger's state dict with EfficientNet's keys and shapes that no EfficientNet
    /// has (a 0-d or 1-d tensor where a conv weight goes, zero channels, a 2-d depthwise weight,
    /// a zero-row classifier, a 2-d SE weight) is refused with the key named, never a crash.
    func testHostileShapesAreRefused() throws {
        let (_, good) = try load("tiny_efficientnet_b0")
        let (_, fused) = try load("tiny_efficientnet_v2_s")
        let cases: [(StateDict, String, [Int])] = [
            (good, "features.1.0.block.0.0.weight", []), (good, "features.1.0.block.0.0.weight", [8]),
            (good, "features.2.0.block.1.0.weight", [0, 1, 3, 3]), (good, "features.0.0.weight", [0, 3, 3, 3]),
            (good, "features.3.0.block.1.0.weight", [8, 3]), (good, "classifier.1.weight", [0, 48]),
            (good, "features.1.0.block.1.fc1.weight", [2, 2]), (fused, "features.2.0.block.0.0.weight", [8, 8, 0, 3]),
            (fused, "features.2.0.block.1.0.weight", [7]),
        ]
        for (base, key, shape) in cases {
            var sd = base
            XCTAssertNotNil(sd[key], key)
            sd[key] = TensorData(shape: shape, floats: [Float](repeating: 0.5, count: shape.reduce(1, *)))
            XCTAssertThrowsError(try InferenceModel(stateDict: sd), "\(key) \(shape)") { error in
                XCTAssertTrue("\(error)".contains(key), "\(key) \(shape): \(error)")
            }
        }
    }

    /// Stochastic depth as torchvision sets it: on each residual block's branch, 0.2 x the block's
    /// index / the block count (torchvision's efficientnet_b0, read from its modules).
    func testStochasticDepthProbabilitiesAreTorchvisions() throws {
        let g = try XCTUnwrap(Families.architecture(variant: "efficientnet_b0")).graph
        let ps = g.nodes.compactMap { n -> Double? in if case .stochasticDepth(let p) = n.op { return p } else { return nil } }
        let torchvision = [0.025, 0.05, 0.075, 0.0875, 0.1125, 0.125, 0.15, 0.1625, 0.175]
        XCTAssertEqual(ps.count, torchvision.count)
        for (a, b) in zip(ps, torchvision) { XCTAssertEqual(a, b, accuracy: 1e-12) }
    }

    /// In training, stochastic depth (and dropout) draw from the seeded generator: the same seed
    /// gives the same step, another seed another; switched off, the step is deterministic and
    /// differs from a drawn one.
    func testStochasticDepthIsSeededInTraining() throws {
        let (meta, sd) = try load("tiny_efficientnet_b0")
        let k = try XCTUnwrap(meta.cases["32x32"])
        let x = try float32s(at: Self.root.appendingPathComponent("models/\(k.input)"))
        func logits(seed: UInt64, enabled: Bool) throws -> [Float] {
            let net = try Network(stateDict: sd, head: .keep, seed: seed)
            net.dropoutEnabled = enabled
            return try x.withUnsafeBufferPointer {
                try net.trainStep(images: $0, labels: [Int](repeating: 0, count: k.batch), batch: k.batch, height: k.height, width: k.width).logits
            }
        }
        let a = try logits(seed: 1, enabled: true)
        XCTAssertEqual(try logits(seed: 1, enabled: true), a)
        XCTAssertNotEqual(try logits(seed: 2, enabled: true), a)
        XCTAssertEqual(try logits(seed: 1, enabled: false), try logits(seed: 2, enabled: false))
        XCTAssertNotEqual(try logits(seed: 1, enabled: false), a)
    }
}
