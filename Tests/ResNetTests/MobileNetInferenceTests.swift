import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// torchvision's MobileNets on the graph (tiny widths, the real block structure) against real
/// PyTorch (Fixtures/mobilenet, gen_mobilenet.py): depthwise convs, ReLU6, hardswish,
/// squeeze-and-excitation with hardsigmoid, batch norm eps 1e-3; and their architecture read
/// from keys.
final class MobileNetInferenceTests: XCTestCase {
    static let root = FixturePaths.url("mobilenet")
    static let models = ["tiny_mobilenet_v2", "tiny_mobilenet_v3_large", "tiny_mobilenet_v3_small"]

    struct Meta: Decodable {
        struct Case: Decodable { let batch: Int; let height: Int; let width: Int; let input: String; let bf16_max_abs_diff: Double }
        let variant: String
        let classes: Int
        let cases: [String: Case]
    }

    func load(_ name: String) throws -> (Meta, StateDict) {
        let dir = Self.root.appendingPathComponent("models/\(name)")
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        return (meta, try ModelFixture.stateDict(in: dir))
    }

    /// f32 logits within 1e-4 (relative to each row's largest), probabilities within 1e-5, at
    /// three input sizes (a 1x1 last map, 2x2, and 3x3 with odd maps on the way); folded and
    /// unfolded; bf16 within a few times PyTorch's own autocast distance.
    func testEveryVariantMatchesPyTorch() throws {
        for name in Self.models {
            let (meta, sd) = try load(name)
            let folded = try InferenceModel(stateDict: sd)
            XCTAssertEqual(folded.name, meta.variant, name)
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
                    print("[mobilenet] \(name) \(c) \(label): logits max rel \(rel)")
                    XCTAssertLessThanOrEqual(rel, 1e-4, "\(name) \(c) \(label): logits differ from PyTorch")
                    let p = try model.probabilities(images: x, batch: k.batch, height: k.height, width: k.width)
                    XCTAssertLessThanOrEqual(maxAbsError(p, wantP), 1e-5, "\(name) \(c) \(label): probabilities")
                }
                if CPUCapabilities.current.bf16 != .unavailable {
                    let bf16 = try InferenceModel(stateDict: sd, precision: .bf16).logits(images: x, batch: k.batch, height: k.height, width: k.width)
                    let torchBF16 = try float32s(at: dir.appendingPathComponent("\(name)/logits_bf16_\(c).bin"))
                    let tol = max(4 * k.bf16_max_abs_diff, 0.01 * Double(want.map(abs).max()!))
                    XCTAssertLessThanOrEqual(maxAbsError(bf16, want), tol, "\(name) \(c) bf16 (torch autocast: \(maxAbsError(torchBF16, want)))")
                }
            }
        }
    }

    /// The eval logits do not depend on the batch: each image alone gives its row of the batch.
    func testImagesAloneGiveTheirRowsOfTheBatch() throws {
        let (meta, sd) = try load("tiny_mobilenet_v3_small")
        let model = try InferenceModel(stateDict: sd)
        let k = try XCTUnwrap(meta.cases["96x80"])
        let x = try float32s(at: Self.root.appendingPathComponent("models/\(k.input)"))
        let batch = try model.logits(images: x, batch: k.batch, height: k.height, width: k.width)
        let per = 3 * k.height * k.width
        for i in 0..<k.batch {
            let alone = try model.logits(images: Array(x[(i * per)..<((i + 1) * per)]), batch: 1, height: k.height, width: k.width)
            XCTAssertLessThanOrEqual(relativeError(alone, Array(batch[(i * meta.classes)..<((i + 1) * meta.classes)])), 1e-5)
        }
    }

    /// torchvision's real MobileNet keys and shapes (width 1, 1000 classes): detected by name,
    /// and the graph's keys are torchvision's state_dict exactly (order and shapes).
    func testTorchvisionKeysAreDetected() throws {
        let url = Self.root.appendingPathComponent("torchvision_keys.json")
        let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: [[Any]]]
        XCTAssertEqual(Set(raw.keys), Set(MobileNetV2Family().variantNames + MobileNetV3Family().variantNames))
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
            XCTAssertEqual(guess.blocks.count, ["mobilenet_v2": 5, "mobilenet_v3_large": 5, "mobilenet_v3_small": 4][name], name)
        }
    }

    /// A MobileNet with a key missing or a shape wrong is refused as a MobileNet, naming the
    /// keys; one with a block too few is refused with torchvision's block counts.
    func testBrokenMobileNetIsRefused() throws {
        var (_, sd) = try load("tiny_mobilenet_v3_small")
        sd["features.2.block.1.1.running_var"] = nil
        sd["classifier.0.bias"] = TensorData(shape: [5], floats: [Float](repeating: 1, count: 5))
        XCTAssertThrowsError(try InferenceModel(stateDict: sd)) { error in
            guard case let ModelError.layoutMismatch(family, missing, _, wrong) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(family, "MobileNetV3")
            XCTAssertEqual(missing, ["features.2.block.1.1.running_var"])
            XCTAssertEqual(wrong.map(\.key), ["classifier.0.bias"])
        }
        var (_, v2) = try load("tiny_mobilenet_v2")
        for k in v2.keys where k.hasPrefix("features.18.") { v2[k] = nil }
        XCTAssertThrowsError(try InferenceModel(stateDict: v2)) { error in
            XCTAssertTrue("\(error)".contains("16 inverted-residual blocks") && "\(error)".contains("mobilenet_v2 has 17"), "\(error)")
        }
    }

    /// Hostile: a stranger's state dict with MobileNet's keys and shapes that no MobileNet has
    /// (a 0-d or 1-d tensor where a conv weight goes, zero channels, a 2-d depthwise weight, a
    /// zero-row classifier) is refused with the keys named, never a crash.
    func testHostileShapesAreRefused() throws {
        let (_, good) = try load("tiny_mobilenet_v3_small")
        let cases: [(String, [Int])] = [("features.1.block.0.0.weight", []), ("features.1.block.0.0.weight", [8]),
                                        ("features.2.block.1.0.weight", [0, 1, 3, 3]), ("features.0.0.weight", [0, 3, 3, 3]),
                                        ("features.3.block.1.0.weight", [8, 3]), ("classifier.0.weight", [0, 48]),
                                        ("features.1.block.1.fc1.weight", [2, 2])]
        for (key, shape) in cases {
            var sd = good
            sd[key] = TensorData(shape: shape, floats: [Float](repeating: 0.5, count: shape.reduce(1, *)))
            XCTAssertThrowsError(try InferenceModel(stateDict: sd), "\(key) \(shape)") { error in
                XCTAssertTrue("\(error)".contains(key), "\(key) \(shape): \(error)")
            }
        }
    }
}
