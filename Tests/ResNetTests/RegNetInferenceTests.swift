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
    static let root = FixturePaths.url("regnet")
    static let models = RegNetFamily().variantNames.map { "tiny_" + $0 }

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
                    print("[regnet] \(name) \(c) \(label): logits max rel \(rel)")
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

    /// torchvision's real RegNet keys and shapes (1000 classes): detected by name, and the
    /// graph's keys are torchvision's state_dict exactly (order and shapes).
    func testTorchvisionKeysAreDetected() throws {
        let url = Self.root.appendingPathComponent("torchvision_keys.json")
        let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: [[Any]]]
        XCTAssertEqual(Set(raw.keys), Set(RegNetFamily().variantNames))
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
            XCTAssertEqual(guess.family, "RegNet")
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
        for (key, shape) in cases {
            var sd = good
            XCTAssertNotNil(sd[key], key)
            sd[key] = TensorData(shape: shape, floats: [Float](repeating: 0.5, count: shape.reduce(1, *)))
            XCTAssertThrowsError(try InferenceModel(stateDict: sd), "\(key) \(shape)") { error in
                XCTAssertTrue("\(error)".contains(key), "\(key) \(shape): \(error)")
            }
        }
    }
}
