import Checkpoint
import Engine
@testable import ResNet
import TestSupport
import XCTest

/// `ResNetModel(convolution: .winograd)` (predict's `--conv winograd`): the 3x3 stride-1 convs
/// run oneDNN's Winograd (where this CPU has it) and the probabilities stay within 1e-4 of
/// PyTorch's on the model fixtures (Fixtures/gen_models.py).
final class WinogradInferenceTests: XCTestCase {
    static let probabilityTolerance = 1e-4

    func check(_ name: String) throws {
        let f = try ModelFixture.load(name)
        let model = try ResNetModel(stateDict: f.stateDict, convolution: .winograd)
        let probs = try model.probabilities(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        let err = maxAbsError(probs, f.probs)
        let direct = try ResNetModel(stateDict: f.stateDict)
            .probabilities(images: f.input, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
        print("\(name) winograd: max abs probability error \(err) (direct: \(maxAbsError(direct, f.probs)))")
        XCTAssertLessThanOrEqual(err, Self.probabilityTolerance, "\(name): probabilities differ from PyTorch")
        // Winograd must really have run where the CPU has it: its results differ from direct's.
        let ran = model.blocks.flatMap { $0.units + [$0.last] }.flatMap(\.conv.implementations)
        if ran.contains(where: { $0.contains("wino") }) {
            XCTAssertNotEqual(probs, direct, "\(name): Winograd gave direct's results bit for bit")
        } else {
            XCTAssertEqual(probs, direct, "\(name): no Winograd on \(CPUCapabilities.current.isa), so direct's results")
        }
    }

    func testBasicBlock() throws { try check("basic_w8") }
    func testBottleneck() throws { try check("bottleneck_w8") }
    func testGroupedBottleneck() throws { try check("bottleneck_g2") }
}
