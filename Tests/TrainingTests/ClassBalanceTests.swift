import Engine
import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--class-weights balanced` against torch's CrossEntropyLoss(weight=w, label_smoothing=s) and
/// scikit-learn's compute_class_weight("balanced") (Fixtures/gen_weighted_loss.py), and the data
/// summary's imbalance warning.
final class ClassBalanceTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable { let smoothing: Float; let weights: [Float]; let logits: [Float]; let labels: [Int]; let loss: Float; let grad: [Float] }
        let trainLabels: [Int]
        let balanced: [Double]
        let cases: [Case]
        enum CodingKeys: String, CodingKey { case trainLabels = "train_labels", balanced, cases }
    }

    func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: FixturePaths.url("weighted_loss/expected.json")))
    }

    func testBalancedWeightsAreScikitLearns() throws {
        let f = try fixture()
        let w = ClassBalance.balancedWeights(labels: f.trainLabels, classes: f.balanced.count)
        XCTAssertEqual(w.count, f.balanced.count)
        for (a, b) in zip(w, f.balanced) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(ClassBalance.balancedWeights(labels: [0, 0, 2], classes: 3), [0.5, 0, 1], "a class with no image: 0")
    }

    /// The loss and its gradient at the logits within 1e-6 of torch's, with and without label
    /// smoothing, on batches where a target class repeats and some class is absent.
    func testWeightedLossMatchesTorch() throws {
        let f = try fixture()
        XCTAssertEqual(f.cases.count, 6)
        for c in f.cases {
            let (loss, grad) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: c.logits, labels: c.labels, classes: 5,
                                                                           labelSmoothing: c.smoothing, weights: c.weights)
            let what = "smoothing \(c.smoothing), labels \(c.labels)"
            XCTAssertEqual(loss, c.loss, accuracy: 1e-6 * max(1, abs(c.loss)), what)
            XCTAssertEqual(grad.count, c.grad.count)
            for (a, b) in zip(grad, c.grad) { XCTAssertEqual(a, b, accuracy: 1e-6, what) }
        }
    }

    /// Weights of 1 give the unweighted loss; bad weights are refused with the reason.
    func testUnitWeightsAreTheUnweightedLossAndBadWeightsAreRefused() throws {
        let c = try XCTUnwrap(try fixture().cases.last)
        let plain = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: c.logits, labels: c.labels, classes: 5, labelSmoothing: c.smoothing)
        let ones = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: c.logits, labels: c.labels, classes: 5, labelSmoothing: c.smoothing,
                                                               weights: [1, 1, 1, 1, 1])
        XCTAssertEqual(plain.loss, ones.loss, accuracy: 1e-6)
        for (a, b) in zip(plain.gradient, ones.gradient) { XCTAssertEqual(a, b, accuracy: 1e-7) }
        for (weights, message) in [([Float](repeating: 1, count: 4), "5 class weights"), ([1, 1, -1, 1, 1], "class weight -1.0"),
                                   ([0, 0, 0, 0, 0], "summing to 0")] {
            XCTAssertThrowsError(try SoftmaxCrossEntropyLoss.lossAndGradient(logits: c.logits, labels: c.labels, classes: 5, weights: weights)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
    }

    func testImbalanceWarningNamesBothClassesAndTheOptions() {
        XCTAssertNil(ClassBalance.imbalanceWarning(counts: [30, 10, 12], names: ["a", "b", "c"]), "3x exactly: no warning")
        let w = ClassBalance.imbalanceWarning(counts: [31, 10, 12], names: ["a", "b", "c"])
        XCTAssertEqual(w, "the training classes are imbalanced: 'a' has 31 images, 'b' 10 (3.1x). A model trained on them favours the large classes; "
            + "--class-weights balanced weighs each class's loss by n / (classes x its count), --sampler balanced draws every class about equally often.")
        XCTAssertNil(ClassBalance.imbalanceWarning(counts: [5], names: ["a"]))
    }
}
