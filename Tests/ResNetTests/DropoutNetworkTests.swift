import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// Dropout in a trained VGG: it cannot match torch's generator bit for bit, so it is checked by
/// its statistics and its reproducibility; switched off, the network is torch's with p = 0
/// (TrainStepTests' VGG cases).
final class DropoutNetworkTests: XCTestCase {
    func network() throws -> Network {
        let initial = try Checkpoint(contentsOf: FixturePaths.url("vgg/training/tiny_vgg11/initial.pth").path).stateDict
        let net = try Network(stateDict: initial, head: .replace(numClasses: 5), seed: 7)
        net.freeze(.headOnly)
        return net
    }

    /// On cached head inputs (the input of classifier.6, after classifier.5's dropout is taken
    /// into the trainable part): about half the features are zeroed and the rest doubled, the
    /// same stream gives the same logits, another stream others, evaluation none of it.
    func testMasksAreSeededByTheStreamAndDropHalf() throws {
        let net = try network()
        let rows = 64, width = 16
        let x = [Float](repeating: 1, count: rows * width)
        let labels = [Int](repeating: 0, count: rows)
        net.dropoutStream = [0, 0, 0]
        let (_, a) = try net.trainStep(headInputs: x, labels: labels)
        net.dropoutStream = [0, 0, 0]
        let (_, b) = try net.trainStep(headInputs: x, labels: labels)
        XCTAssertEqual(a, b, "the same stream draws the same masks")
        net.dropoutStream = [0, 1, 0]
        let (_, c) = try net.trainStep(headInputs: x, labels: labels)
        XCTAssertNotEqual(a, c, "another batch draws other masks")
        // Rows differ (each row its own mask), while evaluation gives every row the same logits.
        let eval = try net.evalLogits(headInputs: x, rows: rows)
        XCTAssertEqual(Set(stride(from: 0, to: eval.count, by: 5).map { eval[$0] }).count, 1)
        XCTAssertGreaterThan(Set(stride(from: 0, to: a.count, by: 5).map { a[$0] }).count, rows / 2)
        // The mask's statistics: one dropout layer over 64 x 16 ones, p = 0.5, survivors x 2.
        let d = try TrainDropout(p: 0.5, seed: 3)
        let t = try Tensor(shape: [rows, width], values: x)
        let y = try d.forward(t, pass: .training).floats()
        XCTAssertTrue(y.allSatisfy { $0 == 0 || $0 == 2 })
        let kept = Double(y.filter { $0 == 2 }.count), n = Double(y.count)
        XCTAssertEqual(kept / n, 0.5, accuracy: 4 * (0.25 / n).squareRoot())
    }

    /// Switched off, a training step is deterministic whatever the stream.
    func testSwitchedOffIsTheIdentity() throws {
        let net = try network()
        net.dropoutEnabled = false
        let x = (0..<(8 * 16)).map { Float($0 % 7) / 7 }
        net.dropoutStream = [1]
        let (_, a) = try net.trainStep(headInputs: x, labels: [Int](repeating: 1, count: 8))
        net.dropoutStream = [2]
        let (_, b) = try net.trainStep(headInputs: x, labels: [Int](repeating: 1, count: 8))
        XCTAssertEqual(a, b)
        XCTAssertEqual(a, try net.evalLogits(headInputs: x, rows: 8))
    }
}
