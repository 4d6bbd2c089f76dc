import Checkpoint
import Foundation
import Engine
@testable import Models
import TestSupport
import XCTest

/// `InferenceModel(convolution: .winograd)` (`--conv winograd`, and what `auto` may choose): the 3x3
/// stride-1 convs run Winograd (oneDNN's on AVX-512, Graft's own on AVX2) and the probabilities
/// stay within 1e-4 of PyTorch's on the model fixtures (Fixtures/gen_models.py) and on a
/// held-back set (Fixtures/gen_heldout.py).
final class WinogradInferenceTests: XCTestCase {
    static let probabilityTolerance = 1e-4
    /// Logits, relative per row: the project's f32 bound for logits against PyTorch.
    static let logitTolerance = 1e-4

    func check(_ name: String, grouped: Bool = false) throws {
        let f = try ModelFixture.load(name)
        let model = try InferenceModel(stateDict: f.stateDict, convolution: .winograd)
        let probs = try model.probabilities(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        let err = maxAbsError(probs, f.probs)
        let direct = try InferenceModel(stateDict: f.stateDict)
            .probabilities(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        print("\(name) winograd: max abs probability error \(err) (direct: \(maxAbsError(direct, f.probs)))")
        XCTAssertLessThanOrEqual(err, Self.probabilityTolerance, "\(name): probabilities differ from PyTorch")
        let ran = model.convolutions.flatMap(\.implementations)
        if grouped {
            // Grouped 3x3 convs have no Winograd: all direct, direct's results.
            XCTAssertFalse(ran.contains { $0.contains("wino") }, "\(ran)")
            XCTAssertEqual(probs, direct, name)
        } else {
            // Winograd really ran (oneDNN's or Graft's own): its results differ from direct's.
            XCTAssertTrue(ran.contains { $0.contains("wino") }, "\(ran)")
            XCTAssertNotEqual(probs, direct, "\(name): Winograd gave direct's results bit for bit")
        }
    }

    func testBasicBlock() throws { try check("basic_w8") }

    /// A held-back set (Fixtures/gen_heldout.py): the resnet18 in weights/ (trained by Graft on
    /// Fashion-MNIST classes 0-4) on 240 test-split images it never saw, at 32x32 as it trained,
    /// and 24 of them at 224x224 (every stage at full ImageNet size). PyTorch's probabilities
    /// against Winograd's (oneDNN's on AVX-512, Graft's own on AVX2) and direct's.
    func checkHeldOut(scale: Int) throws {
        struct Meta: Decodable { let count: Int; let count224: Int; let mean: [Float]; let std: [Float] }
        let dir = FixturePaths.url("heldout")
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: dir.appendingPathComponent("meta.json")))
        let count = scale == 1 ? meta.count : meta.count224
        let pixels = try [UInt8](Data(contentsOf: dir.appendingPathComponent("images.u8")))
        let expected = try float32s(at: dir.appendingPathComponent(scale == 1 ? "probs32.bin" : "probs224.bin"))
        let labels = try JSONDecoder().decode([Int].self, from: Data(contentsOf: dir.appendingPathComponent("labels.json")))
        // As gen_heldout.py builds it: pad 28x28 to 32x32 with black, 3 channels, byte / 255,
        // then (x - mean) / std in float32; each pixel repeated scale x scale.
        let side = 32 * scale
        var input = [Float](repeating: 0, count: count * 3 * side * side)
        for n in 0..<count {
            for c in 0..<3 {
                for y in 0..<side {
                    for x in 0..<side {
                        let (py, px) = (y / scale - 2, x / scale - 2)
                        let byte = (0..<28).contains(py) && (0..<28).contains(px) ? pixels[n * 784 + py * 28 + px] : 0
                        input[((n * 3 + c) * side + y) * side + x] = (Float(byte) / 255 - meta.mean[c]) / meta.std[c]
                    }
                }
            }
        }
        let expectedLogits = try float32s(at: dir.appendingPathComponent(scale == 1 ? "logits32.bin" : "logits224.bin"))
        let sd = try Checkpoint(contentsOf: FixturePaths.root.deletingLastPathComponent().appendingPathComponent("weights/fashion04-resnet18.pth").path).stateDict
        func logits(_ algorithm: ConvolutionAlgorithm) throws -> [Float] {
            try InferenceModel(stateDict: sd, convolution: algorithm).logits(images: input, batch: count, height: side, width: side)
        }
        func softmax(_ l: [Float]) -> [Float] {
            (0..<count).flatMap { n -> [Float] in
                let row = l[(n * 5)..<(n * 5 + 5)], top = row.max()!
                let e = row.map { Foundation.exp($0 - top) }, total = e.reduce(0, +)
                return e.map { $0 / total }
            }
        }
        let winoLogits = try logits(.winograd), directLogits = try logits(.direct)
        let wino = softmax(winoLogits), direct = softmax(directLogits)
        let err = maxAbsError(wino, expected), directErr = maxAbsError(direct, expected)
        let logitErr = maxRelativeError(winoLogits, expectedLogits, rows: count)
        let directLogitErr = maxRelativeError(directLogits, expectedLogits, rows: count)
        func top1(_ p: [Float]) -> [Int] { (0..<count).map { n in (0..<5).max { p[n * 5 + $0] < p[n * 5 + $1] }! } }
        let agree = zip(top1(wino), top1(expected)).filter { $0 == $1 }.count
        let accuracy = Double(zip(top1(wino), labels).filter { $0 == $1 }.count) / Double(count)
        print(String(format: "held-back %dx%d, %d images: winograd max abs probability error %.2e (direct %.2e), logits max rel %.2e (direct %.2e); top-1 as torch's %d/%d; accuracy %.3f",
                     side, side, count, err, directErr, logitErr, directLogitErr, agree, count, accuracy))
        XCTAssertLessThanOrEqual(err, Self.probabilityTolerance)
        XCTAssertLessThanOrEqual(directErr, Self.probabilityTolerance)
        XCTAssertLessThanOrEqual(logitErr, Self.logitTolerance, "logits, per row: max |a - b| / max |b|")
        XCTAssertEqual(agree, count, "the same top-1 class as PyTorch for every image")
        XCTAssertNotEqual(wino, direct, "Winograd ran (it rounds differently)")
    }

    func testHeldOutSetAtTrainingSize() throws { try checkHeldOut(scale: 1) }
    func testHeldOutSetAt224() throws { try checkHeldOut(scale: 7) }
    func testBottleneck() throws { try check("bottleneck_w8") }
    func testGroupedBottleneck() throws { try check("bottleneck_g2", grouped: true) }
}
