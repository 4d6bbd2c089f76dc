import Checkpoint
import Engine
import Foundation
import Models
import TestSupport
import XCTest

/// One training step against PyTorch: loss, logits, every gradient, running statistics.
final class TrainStepTests: XCTestCase {
    /// Each bound is about twice to three times the worst error measured over the 23 cases
    /// (direct and Winograd) on AVX-512 and under ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN 2.6, AMD
    /// EPYC), so that a regression of a few times fails:
    /// - gradients, max |a - b| / max |b| per tensor: worst 1.87e-5 (bottleneck last4_bn_eval,
    ///   layer4.0.conv3.weight, AVX-512); 1.2e-5 with Winograd; most cases 1e-6 to 6e-6;
    /// - running statistics: worst 6.7e-7; logits: worst 2.3e-6; loss: worst 3.9e-7.
    static let gradTolerance = 4e-5
    static let statsTolerance = 2e-6
    static let logitsTolerance = 7e-6
    static let lossTolerance = 1.2e-6

    /// Builds the case's model, as PyTorch started it (same new head), and runs one step.
    func step(_ fixture: TrainingFixture, _ name: String,
              algorithm: ConvolutionAlgorithm = .direct) throws -> (Network, TrainingFixture.Case, Float, [Float]) {
        let c = try fixture.caseInfo(name)
        let head: HeadPolicy = c.head == "append" ? .append(numClasses: fixture.meta.classes) : .replace(numClasses: fixture.meta.classes)
        let model = try Network(stateDict: fixture.stateDict, head: head, seed: 42)
        let headInit = try fixture.tensors(c.head == "append" ? "\(name)/head_init.bin" : "head_init.bin")
        for t in headInit {
            let p = try XCTUnwrap(model.parameters.first { $0.name == t.name }, t.name)
            XCTAssertEqual(p.shape, t.shape)
            _ = p.value.update(from: t.values)
        }
        let trainable = Set(c.trainable)
        model.freeze(.trainOnly(Set(trainable)))
        model.frozenBN = c.frozen_bn == "eval" ? .eval : .train
        model.convolution = algorithm == .winograd ? .winograd : .direct
        model.dropoutEnabled = false  // the fixtures set every nn.Dropout's p to 0
        let m = fixture.meta
        let (loss, logits) = try fixture.input.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: m.labels, batch: m.batch, height: m.height, width: m.width,
                                labelSmoothing: c.label_smoothing)
        }
        return (model, c, loss, logits)
    }

    func check(_ modelName: String, _ caseName: String, root: URL = TrainingFixture.root,
               gradTolerance: Double = TrainStepTests.gradTolerance, statsTolerance: Double = TrainStepTests.statsTolerance,
               algorithm: ConvolutionAlgorithm = .direct) throws {
        let fixture = try TrainingFixture(modelName, root: root)
        let (model, c, loss, logits) = try step(fixture, caseName, algorithm: algorithm)
        let tag = "\(modelName)/\(caseName)\(algorithm == .winograd ? " winograd" : "")"
        let lossErr = Double(abs(loss - c.loss)) / Double(abs(c.loss))
        XCTAssertLessThanOrEqual(lossErr, Self.lossTolerance, "\(tag) loss \(loss) vs \(c.loss)")
        let logitsErr = relativeError(logits, try fixture.floats("\(caseName)/logits.bin"))
        XCTAssertLessThanOrEqual(logitsErr, Self.logitsTolerance, "\(tag) logits")

        // Gradients: every trainable one matches; every frozen one stays zero.
        var worstGrad = 0.0, worstName = "", errors: [Double] = []
        let grads = try fixture.tensors("\(caseName)/grads.bin")
        XCTAssertEqual(grads.map(\.name), model.parameters.filter(\.trainable).map(\.name), "\(tag) trainable set")
        // A gradient that is zero in exact arithmetic (a conv's bias before a batch norm with
        // batch statistics, which takes the mean out) is rounding noise in both: compared with
        // the step's largest gradient instead of its own.
        let largest = grads.map { $0.values.map(abs).max() ?? 0 }.max() ?? 0
        for g in grads {
            let p = try XCTUnwrap(model.parameters.first { $0.name == g.name }, g.name)
            let own = g.values.map(abs).max() ?? 0
            let e = own < 1e-4 * largest ? relativeError(Array(p.grad), g.values, scale: largest)
                : relativeError(Array(p.grad), g.values)
            if e > worstGrad { worstGrad = e; worstName = g.name }
            errors.append(e)
            XCTAssertLessThanOrEqual(e, gradTolerance, "\(tag) grad \(g.name)")
        }
        for p in model.parameters where !p.trainable {
            XCTAssertTrue(p.grad.allSatisfy { $0 == 0 }, "\(tag) frozen \(p.name) got a gradient")
        }

        // Running statistics and num_batches_tracked after the step.
        let sd = model.stateDict()
        var worstStat = 0.0
        for s in try fixture.tensors("\(caseName)/stats.bin") {
            let mine = try XCTUnwrap(sd[s.name], s.name).floats()
            let e = relativeError(mine, s.values)
            worstStat = max(worstStat, e)
            XCTAssertLessThanOrEqual(e, statsTolerance, "\(tag) \(s.name)")
        }
        for (k, v) in c.num_batches_tracked {
            XCTAssertEqual(sd[k]?.int64s(), [v], "\(tag) \(k)")
        }
        let median = errors.sorted()[errors.count / 2]
        print(String(format: "[training] %@: loss rel %.2e, logits rel %.2e, worst grad rel %.2e (%@), median %.2e, worst stat rel %.2e",
                     tag, lossErr, logitsErr, worstGrad, worstName, median, worstStat))
    }

    /// A full-size check against fixtures written outside the repository (too large for it),
    /// e.g. a resnet34 at 224x224: GRAFT_TRAINING_FIXTURES=<root> GRAFT_TRAINING_CASE=<model>/<case>.
    func testExternalFixture() throws {
        let env = ProcessInfo.processInfo.environment
        guard let root = env["GRAFT_TRAINING_FIXTURES"], let c = env["GRAFT_TRAINING_CASE"]?.split(separator: "/"), c.count == 2 else {
            throw XCTSkip("set GRAFT_TRAINING_FIXTURES and GRAFT_TRAINING_CASE to check a full-size fixture")
        }
        let tolerance = Double(env["GRAFT_TRAINING_GRAD_TOLERANCE"] ?? "") ?? Self.gradTolerance
        try check(String(c[0]), String(c[1]), root: URL(fileURLWithPath: root), gradTolerance: tolerance,
                  algorithm: env["GRAFT_TRAIN_WINOGRAD"] == "1" ? .winograd : .direct)
    }

    func testBasicAll() throws { try check("basic", "all") }

    // VGG (Fixtures/vgg/training, gen_vgg.py): conv bias, a ReLU fused into a conv without batch
    // norm, adaptive pooling 1x1, 2x1 and 8x1 -> 7x7, the classifier's Linear-ReLU-Dropout.
    static let vggRoot = FixturePaths.url("vgg/training")
    func testVGGEveryCase() throws {
        for model in ["tiny_vgg11", "tiny_vgg11_bn", "tiny_vgg16_bn"] {
            for c in try TrainingFixture(model, root: Self.vggRoot).meta.cases { try check(model, c, root: Self.vggRoot) }
        }
    }
    // MobileNet (Fixtures/mobilenet/training, gen_mobilenet.py): depthwise convs, ReLU6 fused into
    // no batch norm (a step of its own), hardswish and hardsigmoid differentiated from their
    // inputs, squeeze-and-excitation's product (both inputs' gradients, the pooled branch
    // joining the main one), batch norm eps 1e-3 / momentum 0.01, residual adds without ReLU.
    static let mobileNetRoot = FixturePaths.url("mobilenet/training")
    func testMobileNetEveryCase() throws {
        for model in ["tiny_mobilenet_v2", "tiny_mobilenet_v3_small"] {
            for c in try TrainingFixture(model, root: Self.mobileNetRoot).meta.cases { try check(model, c, root: Self.mobileNetRoot) }
        }
    }
    // EfficientNet (Fixtures/efficientnet/training, gen_efficientnet.py): SiLU differentiated from
    // its input, squeeze-and-excitation with SiLU and a sigmoid fused into fc2 (differentiated from
    // its output), FusedMBConv (v2_s), stochastic depth's p 0 in the fixtures (off here too).
    static let efficientNetRoot = FixturePaths.url("efficientnet/training")
    func testEfficientNetEveryCase() throws {
        for model in ["tiny_efficientnet_b0", "tiny_efficientnet_v2_s"] {
            for c in try TrainingFixture(model, root: Self.efficientNetRoot).meta.cases { try check(model, c, root: Self.efficientNetRoot) }
        }
    }
    // RegNet (Fixtures/regnet/training, gen_regnet.py): grouped 3x3 convs, projection shortcuts,
    // squeeze-and-excitation with ReLU and a fused sigmoid (Y), the add's ReLU.
    static let regNetRoot = FixturePaths.url("regnet/training")
    func testRegNetEveryCase() throws {
        for model in ["tiny_regnet_y_400mf", "tiny_regnet_x_400mf"] {
            for c in try TrainingFixture(model, root: Self.regNetRoot).meta.cases { try check(model, c, root: Self.regNetRoot) }
        }
    }
    // DenseNet (Fixtures/densenet/training, gen_densenet.py): concatenations (their gradient cut
    // back into each input's channels and summed over every later layer that read it), batch norms
    // before convs with ReLU fused, the transitions' 2x2 average pooling.
    // The bound is the ResNet one, or 2.5 times PyTorch's own float32 distance from float64 where
    // that is larger (`last_bn_eval`: 2.7e-5, one batch norm over 8 values a channel in the last block).
    static let denseNetRoot = FixturePaths.url("densenet/training")
    func testDenseNetEveryCase() throws {
        try everyCase("tiny_densenet121", root: Self.denseNetRoot, gradTolerance: Self.gradTolerance)
    }

    /// Every case of `model`, each within `gradTolerance` or 2.5 times PyTorch's own float32
    /// distance from float64 (the case's `float64_distance.worst_grad`), whichever is larger.
    func everyCase(_ model: String, root: URL, gradTolerance: Double, statsTolerance: Double = TrainStepTests.statsTolerance) throws {
        struct Distance: Decodable { struct D: Decodable { let worst_grad: Double }; let float64_distance: D }
        for c in try TrainingFixture(model, root: root).meta.cases {
            let url = root.appendingPathComponent("\(model)/\(c)/case.json")
            let torch = try JSONDecoder().decode(Distance.self, from: Data(contentsOf: url)).float64_distance.worst_grad
            try check(model, c, root: root, gradTolerance: max(gradTolerance, 2.5 * torch), statsTolerance: statsTolerance)
        }
    }
    // Inception V3 (Fixtures/inception/training, gen_inception.py): concatenated branches, 1x7/7x1
    // and 1x3/3x1 convs, average pools counting the padding, max pools (their near-ties cleared by
    // the generator), batch norm eps 1e-3, transform_input, and the auxiliary classifier
    // (AuxLogits: its loss 0.4 times, its gradient joining Mixed_6e's from the main path) at
    // 299x299; not run where only the head trains with frozen batch norms in eval mode (the
    // fixture's loss is then the main one). Batch 3 (at 299 the input is 3 MB an image): the
    // aux's batch norms average 3 values a channel, the stem's are 1/16 wide, and another float32
    // order of summation moves gradients by up to 1.7e-4 (PyTorch's own channels_last run of the
    // `all` step, Fixtures/inception/README.md) and the aux's running variances by a few 1e-6.
    // Bounds: the ResNet ones, or 2.5 times torch's float64 distance, or 1.5e-4 for gradients and
    // 6e-6 for statistics (measured 1.1e-4 and 4.5e-6), a tenth of what a flipped max-pool window
    // or a missing aux gradient moves them (1e-3 to 1e-2).
    static let inceptionRoot = FixturePaths.url("inception/training")
    func testInceptionEveryCase() throws {
        try everyCase("tiny_inception_v3", root: Self.inceptionRoot, gradTolerance: 1.5e-4, statsTolerance: 6e-6)
    }
    // ConvNeXt (Fixtures/convnext/training, gen_convnext.py): LayerNorm over the channels, the
    // Linears on each pixel with GELU, layer scale's gradient, 7x7 depthwise convs; stochastic
    // depth 0 on both sides.
    func testConvNeXtEveryCase() throws {
        let root = FixturePaths.url("convnext/training")
        for c in try TrainingFixture("tiny_convnext_tiny", root: root).meta.cases { try check("tiny_convnext_tiny", c, root: root) }
    }
    func testBasicLastEvalBN() throws { try check("basic", "last_bn_eval") }
    func testBasicLastTrainBN() throws { try check("basic", "last_bn_train") }
    func testBasicLastTwoStages() throws { try check("basic", "last2_bn_eval") }
    func testBasicLastThreeStages() throws { try check("basic", "last3_bn_eval") }
    func testBasicLastFourStages() throws { try check("basic", "last4_bn_eval") }
    func testBottleneckLastTwoStages() throws { try check("bottleneck", "last2_bn_eval") }
    func testBottleneckLastThreeStages() throws { try check("bottleneck", "last3_bn_eval") }
    func testBottleneckLastFourStages() throws { try check("bottleneck", "last4_bn_eval") }
    func testBasicFCEvalBN() throws { try check("basic", "fc_bn_eval") }
    func testBasicFCTrainBN() throws { try check("basic", "fc_bn_train") }
    func testBasicLabelSmoothing() throws { try check("basic", "all_smoothing") }
    func testBasicAppendHead() throws { try check("basic", "append_all") }
    func testBottleneckAll() throws { try check("bottleneck", "all") }
    func testBottleneckLastEvalBN() throws { try check("bottleneck", "last_bn_eval") }
    func testBottleneckLastTrainBN() throws { try check("bottleneck", "last_bn_train") }
    func testBottleneckFCEvalBN() throws { try check("bottleneck", "fc_bn_eval") }
    func testBottleneckFCTrainBN() throws { try check("bottleneck", "fc_bn_train") }
    func testGroupedBottleneckAll() throws { try check("resnext", "all") }
    func testBasicAllWinograd() throws { try check("basic", "all", algorithm: .winograd) }
    func testBottleneckAllWinograd() throws { try check("bottleneck", "all", algorithm: .winograd) }
    func testGroupedBottleneckFCEvalBN() throws { try check("resnext", "fc_bn_eval") }
}
