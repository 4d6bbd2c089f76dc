import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// The eval fixtures every family after ResNet has (`Fixtures/<family>/models`, written by
/// gen_vgg.py, gen_mobilenet.py, gen_efficientnet.py, gen_regnet.py): each tiny model's weights,
/// its meta.json, and torch's logits, probabilities and bf16 logits per input case; and
/// `torchvision_keys.json`, the keys and shapes of torchvision's real variants.
struct FamilyEvalFixture {
    struct Meta: Decodable {
        struct Case: Decodable { let batch: Int; let height: Int; let width: Int; let input: String; let bf16_max_abs_diff: Double }
        /// The torchvision variant the model stands for.
        let variant: String
        /// The name Graft gives it from its shapes, where that is not `variant` (a tiny RegNet is `regnet_y(custom)`).
        let detected_as: String?
        let classes: Int
        let cases: [String: Case]
    }

    let root: URL
    let tag: String

    init(_ family: String) { root = FixturePaths.url(family); tag = family }

    func load(_ name: String) throws -> (Meta, StateDict) {
        let dir = root.appendingPathComponent("models/\(name)")
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        return (meta, try ModelFixture.stateDict(in: dir))
    }

    /// f32 logits within 1e-4 (relative to each row's largest), folded and unfolded, and
    /// probabilities within 1e-5, at every input case; bf16 within a few times PyTorch's own
    /// autocast distance from f32 (where the CPU has bf16); the name and class count.
    func everyModelMatchesPyTorch(_ models: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        for name in models {
            let (meta, sd) = try load(name)
            let folded = try InferenceModel(stateDict: sd)
            XCTAssertEqual(folded.name, meta.detected_as ?? meta.variant, name, file: file, line: line)
            XCTAssertEqual(folded.numClasses, meta.classes, file: file, line: line)
            let unfolded = try InferenceModel(stateDict: sd, foldBatchNorm: false)
            let dir = root.appendingPathComponent("models")
            for (c, k) in meta.cases.sorted(by: { $0.key < $1.key }) {
                let x = try float32s(at: dir.appendingPathComponent(k.input))
                let want = try float32s(at: dir.appendingPathComponent("\(name)/logits_\(c).bin"))
                for (label, model) in [("folded", folded), ("unfolded", unfolded)] {
                    let rel = maxRelativeError(try model.logits(images: x, batch: k.batch, height: k.height, width: k.width), want, rows: k.batch)
                    print("[\(tag)] \(name) \(c) \(label): logits max rel \(rel)")
                    XCTAssertLessThanOrEqual(rel, 1e-4, "\(name) \(c) \(label): logits differ from PyTorch", file: file, line: line)
                }
                let p = try folded.probabilities(images: x, batch: k.batch, height: k.height, width: k.width)
                let wantP = try float32s(at: dir.appendingPathComponent("\(name)/probs_\(c).bin"))
                XCTAssertLessThanOrEqual(maxAbsError(p, wantP), 1e-5, "\(name) \(c): probabilities", file: file, line: line)
                if CPUCapabilities.current.bf16 != .unavailable {
                    let bf16 = try InferenceModel(stateDict: sd, precision: .bf16).logits(images: x, batch: k.batch, height: k.height, width: k.width)
                    let torchBF16 = try float32s(at: dir.appendingPathComponent("\(name)/logits_bf16_\(c).bin"))
                    let tol = max(4 * k.bf16_max_abs_diff, 0.01 * Double(want.map(abs).max()!))
                    XCTAssertLessThanOrEqual(maxAbsError(bf16, want), tol, "\(name) \(c) bf16 (torch autocast: \(maxAbsError(torchBF16, want)))",
                                             file: file, line: line)
                }
            }
        }
    }

    /// torchvision's real keys and shapes (1000 classes), each variant detected by name: the
    /// graph's keys are torchvision's state_dict exactly (order and shapes), by shapes and by
    /// name, and `inspect_weights`' guess names it; `stages` checks the guess's convs per stage.
    func torchvisionKeysAreDetected(variants: [String], file: StaticString = #filePath, line: UInt = #line,
                                    stages: (_ name: String, _ guess: ArchitectureGuess, _ convs: Int) -> Void) throws {
        let raw = try ExactJSON.object(with: Data(contentsOf: root.appendingPathComponent("torchvision_keys.json"))) as! [String: [[Any]]]
        XCTAssertEqual(Set(raw.keys), Set(variants), file: file, line: line)
        for (name, rows) in raw {
            let shapes = rows.map { ($0[0] as! String, ($0[1] as! [NSNumber]).map(\.intValue)) }
            let arch = try Architecture.detect(shapes)
            XCTAssertEqual(arch.name, name, file: file, line: line)
            XCTAssertEqual(arch.numClasses, 1000, file: file, line: line)
            XCTAssertEqual(arch.fileName, name + ".pth", file: file, line: line)
            XCTAssertEqual(arch.tensors.map(\.key), shapes.map(\.0), name, file: file, line: line)
            XCTAssertEqual(arch.tensors.map(\.shape), shapes.map(\.1), name, file: file, line: line)
            XCTAssertEqual(Families.architecture(variant: name)?.tensors.map(\.key), shapes.map(\.0), name, file: file, line: line)
            XCTAssertEqual(Families.architecture(variant: name)?.tensors.map(\.shape), shapes.map(\.1), name, file: file, line: line)
            let guess = ArchitectureGuess(keys: shapes.map(\.0), shapes: { k in shapes.first { $0.0 == k }?.1 })
            XCTAssertEqual(guess.name, name, file: file, line: line)
            stages(name, guess, shapes.filter { $0.1.count == 4 }.count)
        }
    }

    /// Each `(state dict, key, shape)`: the key given that shape is refused with the key named, never a crash.
    static func hostileShapesAreRefused(_ cases: [(StateDict, String, [Int])], file: StaticString = #filePath, line: UInt = #line) {
        for (base, key, shape) in cases {
            var sd = base
            XCTAssertNotNil(sd[key], key, file: file, line: line)
            sd[key] = TensorData(shape: shape, floats: [Float](repeating: 0.5, count: shape.reduce(1, *)))
            XCTAssertThrowsError(try InferenceModel(stateDict: sd), "\(key) \(shape)", file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(key), "\(key) \(shape): \(error)", file: file, line: line)
            }
        }
    }
}
