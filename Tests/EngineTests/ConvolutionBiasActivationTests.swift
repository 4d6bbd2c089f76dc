@testable import Engine
import TestSupport
import XCTest

/// `TrainConv2d` with a bias and a fused activation, on every algorithm path (direct; Winograd:
/// oneDNN's on AVX-512, Graft's own under `ONEDNN_MAX_CPU_ISA=AVX2`; the tuner's choice)
/// against the float64 definition: forward, input, weight and bias gradients.
final class ConvolutionBiasActivationTests: XCTestCase {
    /// Direct f32 convs: the sums' rounding, about 1e-7 of the output's scale here.
    static let directTolerance = 1e-5
    /// Winograd rounds in its transforms (see WinogradTests): up to about 2e-6 here.
    static let winogradTolerance = 1e-5

    struct Case {
        let g: NaiveReference.ConvGeometry
        let algorithm: ConvolutionAlgorithm
        let bias: Bool
        let activation: Activation?
        var tuned = false
    }

    func check(_ k: Case, file: StaticString = #filePath, line: UInt = #line) throws {
        let g = k.g
        let wv = NaiveReference.values(g.o * g.c * g.kh * g.kw, seed: 1, scale: 0.5)
        let bv = NaiveReference.values(g.o, seed: 2)
        let xv = NaiveReference.values(g.n * g.c * g.h * g.w, seed: 3)
        let weight = Parameter(name: "w", shape: [g.o, g.c, g.kh, g.kw], values: wv)
        let bias = k.bias ? Parameter(name: "b", shape: [g.o], values: bv) : nil
        let conv = try TrainConv2d(weight: weight, bias: bias, stride: g.stride, padding: g.padding, paddingWidth: g.paddingWidth,
                                   activation: k.activation)
        conv.algorithm = k.algorithm
        if k.tuned { conv.tuner = ConvolutionTuner(cache: nil) }
        let x = try Tensor(shape: [g.n, g.c, g.h, g.w], values: xv)
        let y = try conv.forward(x, pass: .training)
        let z = NaiveReference.conv(xv, wv, bias: k.bias ? bv : nil, g)
        let want = k.activation == .relu ? NaiveReference.relu(z) : z
        let tolerance = conv.lastAlgorithm == .winograd ? Self.winogradTolerance : Self.directTolerance
        let what = "\(g) \(k.algorithm) bias \(k.bias) \(k.activation?.rawValue ?? "none") tuned \(k.tuned): \(conv.implementations)"
        XCTAssertEqual(y.shape, g.outShape, file: file, line: line)
        let ef = relativeError(try y.floats(), want.floats)
        XCTAssertLessThanOrEqual(ef, tolerance, "forward \(what)", file: file, line: line)
        if k.algorithm == .winograd && !k.tuned && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.pw == g.padding {
            XCTAssertEqual(conv.lastAlgorithm, .winograd, what, file: file, line: line)
        }
        if k.activation != nil { XCTAssertTrue(try y.floats().contains(0), "the activation clipped something", file: file, line: line) }
        // The inference conv of the same weights.
        let inference = try Conv2d(weight: wv, shape: [g.o, g.c, g.kh, g.kw], bias: k.bias ? bv : nil, stride: g.stride, padding: g.padding,
                                   paddingWidth: g.paddingWidth, activation: k.activation, algorithm: k.algorithm)
        XCTAssertLessThanOrEqual(relativeError(try inference.forward(x).floats(), want.floats), tolerance, "inference \(what)", file: file, line: line)

        let dyv = NaiveReference.values(y.elementCount, seed: 4)
        let dz = k.activation == .relu ? NaiveReference.reluBackward(want, dyv.map(Double.init)) : dyv.map(Double.init)
        let (dxWant, dwWant, dbWant) = NaiveReference.convBackward(xv, wv, dz, g)
        weight.grad.update(repeating: .nan)
        bias?.grad.update(repeating: .nan)
        let dx = try XCTUnwrap(conv.backward(outputGrad: Tensor(shape: y.shape, values: dyv), needInputGrad: true), file: file, line: line)
        let (edx, edw) = (relativeError(try dx.floats(), dxWant.floats), relativeError(Array(weight.grad), dwWant.floats))
        XCTAssertLessThanOrEqual(edx, tolerance, "input gradient \(what)", file: file, line: line)
        XCTAssertLessThanOrEqual(edw, tolerance, "weight gradient \(what)", file: file, line: line)
        var edb = 0.0
        if let b = bias {
            edb = relativeError(Array(b.grad), dbWant.floats)
            XCTAssertLessThanOrEqual(edb, tolerance, "bias gradient \(what)", file: file, line: line)
        }
        print(String(format: "[conv bias/activation] %@: forward %.1e dx %.1e dw %.1e db %.1e", what, ef, edx, edw, edb))
    }

    let same = NaiveReference.ConvGeometry(n: 2, c: 12, h: 9, w: 7, o: 20, kh: 3, kw: 3, stride: 1, padding: 1)

    func testDirectWithBiasAndReLU() throws {
        for activation in [nil, Activation.relu] {
            try check(Case(g: same, algorithm: .direct, bias: true, activation: activation))
        }
        // A strided conv (direct even when Winograd is asked for) and a 1x1 conv.
        try check(Case(g: .init(n: 2, c: 5, h: 10, w: 9, o: 7, kh: 3, kw: 3, stride: 2, padding: 1), algorithm: .winograd,
                       bias: true, activation: .relu))
        try check(Case(g: .init(n: 3, c: 16, h: 5, w: 6, o: 8, kh: 1, kw: 1, stride: 1, padding: 0), algorithm: .direct,
                       bias: true, activation: .relu))
        // An activation without a bias.
        try check(Case(g: same, algorithm: .direct, bias: false, activation: .relu))
    }

    /// Inception's factorised convs: 1x7 with padding (0, 3), 7x1 with (3, 0), 1x3 and 3x1, and a
    /// strided one; Winograd asked for and not taken (not 3x3, or padding that differs by axis).
    func testKernelsAndPaddingThatDifferByAxis() throws {
        for (kh, kw, ph, pw, stride) in [(1, 7, 0, 3, 1), (7, 1, 3, 0, 1), (1, 3, 0, 1, 1), (3, 1, 1, 0, 1), (1, 7, 0, 3, 2), (3, 3, 0, 1, 1)] {
            let g = NaiveReference.ConvGeometry(n: 2, c: 6, h: 9, w: 8, o: 10, kh: kh, kw: kw, stride: stride, padding: ph, paddingWidth: pw)
            for algorithm in ConvolutionAlgorithm.allCases {
                try check(Case(g: g, algorithm: algorithm, bias: true, activation: .relu))
            }
        }
        XCTAssertThrowsError(try Conv2d(weight: [1], shape: [1, 1, 1, 1], padding: 0, paddingWidth: -1))
    }

    /// An nn.Linear on each pixel (ConvNeXt's): a 2-d weight [out, in] trains as the 1x1 conv of
    /// the same values, bit for bit, its gradient in the 2-d parameter.
    func testTwoDimensionalWeightIsAOneByOneConv() throws {
        let (n, c, h, w, o) = (2, 6, 3, 4, 8)
        let wv = NaiveReference.values(o * c, seed: 1), bv = NaiveReference.values(o, seed: 2)
        let x = try Tensor(shape: [n, c, h, w], values: NaiveReference.values(n * c * h * w, seed: 3))
        let dy = NaiveReference.values(n * o * h * w, seed: 4)
        var results: [([Float], [Float], [Float], [Float])] = []
        for shape in [[o, c], [o, c, 1, 1]] {
            let weight = Parameter(name: "w", shape: shape, values: wv), bias = Parameter(name: "b", shape: [o], values: bv)
            let conv = try TrainConv2d(weight: weight, bias: bias, stride: 1, padding: 0, activation: .relu)
            let y = try conv.forward(x, pass: .training)
            XCTAssertEqual(y.shape, [n, o, h, w])
            let dx = try XCTUnwrap(conv.backward(outputGrad: Tensor(shape: y.shape, values: dy), needInputGrad: true))
            results.append((try y.floats(), try dx.floats(), Array(weight.grad), Array(bias.grad)))
        }
        XCTAssertEqual(results[0].0, results[1].0)
        XCTAssertEqual(results[0].1, results[1].1)
        XCTAssertEqual(results[0].2, results[1].2)
        XCTAssertEqual(results[0].3, results[1].3)
        XCTAssertTrue(results[0].2.contains { $0 != 0 })
    }

    func testWinogradWithBiasAndReLU() throws {
        for activation in [nil, Activation.relu] {
            try check(Case(g: same, algorithm: .winograd, bias: true, activation: activation))
        }
        try check(Case(g: .init(n: 1, c: 8, h: 13, w: 10, o: 16, kh: 3, kw: 3, stride: 1, padding: 0), algorithm: .winograd,
                       bias: true, activation: .relu))
        // Padding 2: Graft's own Winograd on every CPU (oneDNN's has none for it).
        try check(Case(g: .init(n: 2, c: 16, h: 6, w: 5, o: 8, kh: 3, kw: 3, stride: 1, padding: 2), algorithm: .winograd,
                       bias: true, activation: .relu))
        try check(Case(g: .init(n: 2, c: 16, h: 6, w: 5, o: 8, kh: 3, kw: 3, stride: 1, padding: 2), algorithm: .winograd,
                       bias: false, activation: nil))
    }

    func testTunerWithBiasAndReLU() throws {
        try check(Case(g: same, algorithm: .direct, bias: true, activation: .relu, tuned: true))
    }

    /// A frozen weight with a trainable bias (the bias gradient without backward-weights), a
    /// frozen bias (its gradient untouched), and the activation's backward in `dy`'s storage.
    func testFrozenParametersAndOverwriting() throws {
        let g = same
        let wv = NaiveReference.values(g.o * g.c * 9, seed: 1, scale: 0.5), bv = NaiveReference.values(g.o, seed: 2)
        let xv = NaiveReference.values(g.n * g.c * g.h * g.w, seed: 3)
        let want = NaiveReference.relu(NaiveReference.conv(xv, wv, bias: bv, g))
        let dyv = NaiveReference.values(want.count, seed: 4)
        let (dxWant, _, dbWant) = NaiveReference.convBackward(xv, wv, NaiveReference.reluBackward(want, dyv.map(Double.init)), g)
        for algorithm in ConvolutionAlgorithm.allCases {
            let weight = Parameter(name: "w", shape: [g.o, g.c, 3, 3], values: wv), bias = Parameter(name: "b", shape: [g.o], values: bv)
            weight.trainable = false
            let conv = try TrainConv2d(weight: weight, bias: bias, stride: 1, padding: 1, activation: .relu)
            conv.algorithm = algorithm
            let tolerance = algorithm == .winograd ? Self.winogradTolerance : Self.directTolerance
            weight.grad.update(repeating: 7); bias.grad.update(repeating: .nan)
            let y = try conv.forward(Tensor(shape: [g.n, g.c, g.h, g.w], values: xv), pass: .training)
            let dy = try CPUEngine.shared.reorder(Tensor(shape: y.shape, values: dyv), to: y.desc)
            let dx = try XCTUnwrap(conv.backward(outputGrad: dy, needInputGrad: true, overwriting: true))
            XCTAssertLessThanOrEqual(relativeError(try dx.floats(), dxWant.floats), tolerance, "\(algorithm)")
            XCTAssertLessThanOrEqual(relativeError(Array(bias.grad), dbWant.floats), tolerance, "\(algorithm)")
            XCTAssertTrue(weight.grad.allSatisfy { $0 == 7 }, "a frozen weight's gradient is not written")

            bias.trainable = false; weight.trainable = true
            bias.grad.update(repeating: 7)
            _ = try conv.forward(Tensor(shape: [g.n, g.c, g.h, g.w], values: xv), pass: .training)
            _ = try conv.backward(outputGrad: Tensor(shape: y.shape, values: dyv), needInputGrad: false)
            XCTAssertTrue(bias.grad.allSatisfy { $0 == 7 }, "a frozen bias's gradient is not written")
        }
    }

    func testBadBiasShapeIsRefused() throws {
        let w = Parameter(name: "w", shape: [4, 2, 3, 3], values: [Float](repeating: 0, count: 72))
        XCTAssertThrowsError(try TrainConv2d(weight: w, bias: Parameter(name: "b", shape: [3], values: [0, 0, 0]), stride: 1, padding: 1))
    }

    /// The inference conv's `activation` and its `fusedReLU` forward are the same conv.
    func testInferenceConvActivationEqualsFusedReLU() throws {
        let wv = NaiveReference.values(8 * 4 * 9, seed: 5), bv = NaiveReference.values(8, seed: 6)
        let x = try Tensor(shape: [2, 4, 7, 7], values: NaiveReference.values(2 * 4 * 49, seed: 7))
        for algorithm in ConvolutionAlgorithm.allCases {
            let a = try Conv2d(weight: wv, shape: [8, 4, 3, 3], bias: bv, padding: 1, activation: .relu, algorithm: algorithm)
            let b = try Conv2d(weight: wv, shape: [8, 4, 3, 3], bias: bv, padding: 1, fusedReLU: true, algorithm: algorithm)
            XCTAssertTrue(b.fusedReLU)
            XCTAssertEqual(try a.forward(x).floats(), try b.forward(x).floats())
            let z = NaiveReference.conv(try x.floats(), wv, bias: bv, .init(n: 2, c: 4, h: 7, w: 7, o: 8, kh: 3, kw: 3, stride: 1, padding: 1))
            XCTAssertLessThanOrEqual(relativeError(try a.forward(x).floats(), NaiveReference.relu(z).floats),
                                     algorithm == .winograd ? Self.winogradTolerance : Self.directTolerance)
        }
    }
}
