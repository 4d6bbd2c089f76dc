import Engine
@testable import Models
import XCTest

/// A training step lets go of what each layer saved as soon as that layer's backward has used
/// it (PyTorch's autograd does the same), so the step's peak is about what the forward pass
/// keeps, not that plus a gradient for every activation.
final class TrainingMemoryTests: XCTestCase {
    /// Live tensor bytes (the engine's buffer pool counts them) at two moments of a resnet18 step:
    /// when the head's gradients are ready (the forward's saved activations all alive) and when
    /// the stem's are (every block's backward done).
    func testBackwardFreesActivationsLayerByLayer() throws {
        let engine = try CPUEngine()  // its own buffer pool: no other test's buffers counted
        let model = try Network(stateDict: nil, architecture: "resnet18", head: .replace(numClasses: 5), seed: 3,
                                     engine: engine)
        model.convolution = .direct
        let (batch, size) = (4, 160)
        let images = (0..<(batch * 3 * size * size)).map { Float(($0 * 7919) % 255) / 127.5 - 1 }
        var liveAt: [Int] = []
        model.onGradientsReady = { _ in liveAt.append(engine.buffers.liveBytes) }
        _ = try images.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: [0, 1, 2, 3], batch: batch, height: size, width: size)
        }
        let afterForward = try XCTUnwrap(liveAt.first), atStem = try XCTUnwrap(liveAt.last)
        // The forward keeps, at 160x160 and batch 4, the stem's conv output (6.6 MB) and every
        // block's activations: about 36 MB in all.
        XCTAssertGreaterThan(afterForward, 30 << 20)
        // By the stem's gradients every block has freed what it saved; what is left is the
        // stem's conv output, the max-pool's gradient and a few small buffers (about 8 MB).
        // Had nothing been freed, it would be all of afterForward and the gradients besides.
        XCTAssertLessThan(Double(atStem), 0.3 * Double(afterForward), "live tensor bytes at the stem vs after forward")
    }

    /// Overwriting gradients once read (oneDNN's in-place batch norm, ReLU and add backward)
    /// gives the same bits as a buffer per gradient. oneDNN 2.6's in-place add with a fused ReLU
    /// is wrong on some blocked shapes (found while writing this), so each in-place op Graft
    /// uses is checked here on odd sizes, where the kernels' tails run. Measured the same way
    /// on resnet34 224x224 batch 8, resnet50 160x160 and Winograd, on AVX-512 and AVX2.
    func testOverwritingGradientsInPlaceGivesTheSameBits() throws {
        let (batch, size) = (3, 97)
        let images = (0..<(batch * 3 * size * size)).map { Float(($0 * 7919) % 255) / 127.5 - 1 }
        var grads: [[[Float]]] = [], losses: [Float] = [], peaks: [Int] = []
        for inPlace in [true, false] {
            let engine = try CPUEngine()
            let model = try Network(stateDict: nil, architecture: "resnet18", head: .replace(numClasses: 5), seed: 5,
                                         engine: engine)
            model.convolution = .direct
            model.overwritesGradients = inPlace
            let (loss, _) = try images.withUnsafeBufferPointer {
                try model.trainStep(images: $0, labels: [0, 1, 2], batch: batch, height: size, width: size)
            }
            losses.append(loss)
            grads.append(model.parameters.map { Array($0.grad) })
            peaks.append(engine.buffers.peakBytes)
        }
        XCTAssertEqual(losses[0], losses[1])
        XCTAssertEqual(grads[0].count, grads[1].count)
        for (i, (a, b)) in zip(grads[0], grads[1]).enumerated() {
            XCTAssertTrue(a == b, "parameter \(i): in-place gradients differ from separate buffers")
        }
        XCTAssertTrue(grads[0].contains { $0.contains { $0 != 0 } }, "the step computed gradients")
        XCTAssertLessThan(peaks[0], peaks[1], "in place should need fewer tensor bytes at the peak")
    }
}
