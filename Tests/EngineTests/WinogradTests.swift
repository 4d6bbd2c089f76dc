@testable import Engine
import Random
import TestSupport
import XCTest

/// Graft's own Winograd F(4x4, 3x3) (`WinogradConvolution`, what `--conv winograd` and `auto`
/// run where oneDNN has no Winograd: AVX2) against oneDNN's direct convolution, on every CPU.
/// Odd sizes put partial tiles at the right and bottom edges; channel counts that are not
/// multiples of 8 leave padding lanes in the blocked layout.
final class WinogradTests: XCTestCase {
    /// max |winograd - direct| / max |direct| over a conv's outputs. F(4x4, 3x3) rounds in its
    /// transforms (they scale by up to 25), so it is further from exact than direct, but on
    /// these sizes it stays near 1e-6 (measured: see the printed figures); one wrong
    /// coefficient in a transform, a tile misplaced or a border read moves outputs by O(1).
    static let tolerance = 2e-5

    func values(_ n: Int, seed: UInt64) -> [Float] {
        var r = SeededRandom(seed: seed)
        return (0..<n).map { _ in 2 * r.rand() - 1 }
    }

    /// `relu?(conv(x) + bias + residual?)` with ours and with oneDNN's direct conv.
    func checkForward(batch: Int, in cin: Int, out cout: Int, height: Int, width: Int, padding: Int,
                      bias: Bool, residual: Bool, relu: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let shape = [cout, cin, 3, 3]
        let w = values(shape.reduce(1, *), seed: 1)
        let b = bias ? values(cout, seed: 2) : nil
        let x = try Tensor(shape: [batch, cin, height, width], values: values(batch * cin * height * width, seed: 3))
        let direct = try Conv2d(weight: w, shape: shape, bias: b, padding: padding, fusedReLU: relu)
        let outDims = try direct.outputShape(for: x.shape)
        let r = values(outDims.reduce(1, *), seed: 4)
        let expected = try (residual ? direct.forward(x, accumulatingInto: Tensor(shape: outDims, values: r)) : direct.forward(x)).floats()

        let wino = WinogradConvolution(inChannels: cin, outChannels: cout, padding: padding, engine: .shared)
        let u = try w.withUnsafeBufferPointer {
            try WinogradConvolution.transformWeights($0.baseAddress!, out: cout, in: cin, transposed: false, engine: .shared)
        }
        XCTAssertEqual(u.desc, try wino.weightsDesc, file: file, line: line)
        let src = try CPUEngine.shared.reorder(x, to: WinogradConvolution.activationDesc(x.shape))
        let dst = residual ? try CPUEngine.shared.reorder(Tensor(shape: outDims, values: r), to: WinogradConvolution.activationDesc(outDims))
            : try Tensor(desc: WinogradConvolution.activationDesc(outDims))
        try b.withUnsafeBufferPointerIfAny { bp in
            try wino.forward(src: src, weights: u, bias: bp, dst: dst, sum: residual, relu: relu)
        }
        let got = try dst.floats()
        let err = relativeError(got, expected)
        print(String(format: "[winograd] %dx%dx%dx%d -> %d pad %d: rel %.2e", batch, cin, height, width, cout, padding, err))
        XCTAssertLessThanOrEqual(err, Self.tolerance, file: file, line: line)
        XCTAssertGreaterThan(err, 0, "the Winograd arithmetic ran (it rounds differently from direct)", file: file, line: line)
        if relu { XCTAssertTrue(got.allSatisfy { $0 >= 0 }, file: file, line: line) }
    }

    func testForwardMatchesDirect() throws {
        try checkForward(batch: 2, in: 12, out: 20, height: 9, width: 7, padding: 1, bias: false, residual: false, relu: false)
        try checkForward(batch: 1, in: 16, out: 8, height: 13, width: 10, padding: 0, bias: true, residual: false, relu: false)
        try checkForward(batch: 3, in: 8, out: 16, height: 5, width: 6, padding: 2, bias: false, residual: false, relu: false)
        try checkForward(batch: 2, in: 64, out: 64, height: 14, width: 14, padding: 1, bias: false, residual: false, relu: false)
    }

    func testFusedBiasResidualAndReLUMatchDirect() throws {
        try checkForward(batch: 2, in: 24, out: 12, height: 11, width: 8, padding: 1, bias: true, residual: true, relu: true)
        try checkForward(batch: 1, in: 4, out: 3, height: 3, width: 3, padding: 1, bias: true, residual: false, relu: true)
    }

    /// The transposed filters make the input gradient: the same as oneDNN's direct backward-data.
    func testTransposedWeightsGiveTheInputGradient() throws {
        for (cin, cout, h, w, padding) in [(12, 20, 9, 7, 1), (8, 16, 10, 13, 0), (16, 8, 6, 5, 2)] {
            let shape = [cout, cin, 3, 3]
            let p = Parameter(name: "w", shape: shape, values: values(shape.reduce(1, *), seed: 5))
            let conv = try TrainConv2d(weight: p, stride: 1, padding: padding)
            let x = try Tensor(shape: [2, cin, h, w], values: values(2 * cin * h * w, seed: 6))
            let y = try conv.forward(x, pass: .training)
            let dy = try Tensor(shape: y.shape, values: values(y.elementCount, seed: 7))
            let expected = try XCTUnwrap(conv.backward(outputGrad: dy, needInputGrad: true)).floats()

            let wino = WinogradConvolution(inChannels: cin, outChannels: cout, padding: padding, engine: .shared).transposed()
            let u = try WinogradConvolution.transformWeights(p.value.baseAddress!, out: cout, in: cin, transposed: true, engine: .shared)
            XCTAssertEqual(u.desc, try wino.weightsDesc)
            let src = try CPUEngine.shared.reorder(dy, to: WinogradConvolution.activationDesc(dy.shape))
            let dx = try Tensor(desc: WinogradConvolution.activationDesc(x.shape))
            try wino.forward(src: src, weights: u, bias: nil, dst: dx, sum: false, relu: false)
            let err = relativeError(try dx.floats(), expected)
            print(String(format: "[winograd] input gradient %dx%dx%d <- %d pad %d: rel %.2e", cin, h, w, cout, padding, err))
            XCTAssertLessThanOrEqual(err, Self.tolerance, "in \(cin) out \(cout) pad \(padding)")
            XCTAssertGreaterThan(err, 0)
        }
    }
}

private extension Optional where Wrapped == [Float] {
    func withUnsafeBufferPointerIfAny<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        guard let a = self else { return try body(nil) }
        return try a.withUnsafeBufferPointer { try body($0.baseAddress) }
    }
}

extension WinogradTests {
    /// The weight gradient from the Winograd transforms of the input and the output gradient:
    /// the same as oneDNN's direct backward-weights.
    func testWeightGradientMatchesDirect() throws {
        for (cin, cout, h, w, padding) in [(12, 20, 9, 7, 1), (8, 16, 10, 13, 0), (16, 8, 6, 5, 2), (64, 64, 14, 14, 1)] {
            let shape = [cout, cin, 3, 3]
            let p = Parameter(name: "w", shape: shape, values: values(shape.reduce(1, *), seed: 8))
            let conv = try TrainConv2d(weight: p, stride: 1, padding: padding)
            let x = try Tensor(shape: [2, cin, h, w], values: values(2 * cin * h * w, seed: 9))
            let y = try conv.forward(x, pass: .training)
            let dy = try Tensor(shape: y.shape, values: values(y.elementCount, seed: 10))
            _ = try conv.backward(outputGrad: dy, needInputGrad: false)
            let expected = Array(p.grad)

            let wino = WinogradConvolution(inChannels: cin, outChannels: cout, padding: padding, engine: .shared)
            var got = [Float](repeating: .nan, count: expected.count)
            try got.withUnsafeMutableBufferPointer { buf in
                try wino.weightGradient(src: CPUEngine.shared.reorder(x, to: WinogradConvolution.activationDesc(x.shape)),
                                        outputGrad: CPUEngine.shared.reorder(dy, to: WinogradConvolution.activationDesc(dy.shape)),
                                        into: buf.baseAddress!)
            }
            let err = relativeError(got, expected)
            print(String(format: "[winograd] weight gradient %d->%d on %dx%d pad %d: rel %.2e", cin, cout, h, w, padding, err))
            XCTAssertLessThanOrEqual(err, Self.tolerance, "in \(cin) out \(cout) pad \(padding)")
            XCTAssertGreaterThan(err, 0)
        }
    }
}

extension WinogradTests {
    /// Fills the engine's buffer pool with NaN-filled buffers, so that a tensor a later op
    /// takes from it and does not write in full shows NaN.
    func poisonBufferPool() throws {
        var held: [Tensor] = []
        for n in stride(from: 16, through: 65_536, by: 16) {
            let t = try Tensor(desc: .plain([n], .f32))
            _ = t.withUnsafeMutableRawPointer { $0.initializeMemory(as: Float.self, repeating: .nan, count: n) }
            held.append(t)
        }
    }

    /// Channel counts that are not multiples of 8 leave padding rows in the transformed filters
    /// (every one of the 36 planes): they must be zeros, not what a reused buffer held (0 times
    /// NaN is NaN). Forward, input gradient and weight gradient through `TrainConv2d`, with bias
    /// and ReLU, against direct, after the pool was filled with NaN.
    func testReusedBuffersDoNotReachTheResults() throws {
        for (cin, cout) in [(4, 8), (12, 20), (3, 5)] {
            let shape = [cout, cin, 3, 3]
            let xv = values(2 * cin * 7 * 6, seed: 11), dyv = values(2 * cout * 7 * 6, seed: 12)
            var results: [[Float]] = []
            for algorithm in ConvolutionAlgorithm.allCases {
                let w = Parameter(name: "w", shape: shape, values: values(shape.reduce(1, *), seed: 13))
                let b = Parameter(name: "b", shape: [cout], values: values(cout, seed: 14))
                let conv = try TrainConv2d(weight: w, bias: b, stride: 1, padding: 1, activation: .relu)
                conv.algorithm = algorithm
                try poisonBufferPool()
                let y = try conv.forward(Tensor(shape: [2, cin, 7, 6], values: xv), pass: .training)
                try poisonBufferPool()
                let dx = try XCTUnwrap(conv.backward(outputGrad: Tensor(shape: y.shape, values: dyv), needInputGrad: true))
                results.append(try y.floats() + dx.floats() + Array(w.grad) + Array(b.grad))
                XCTAssertEqual(conv.lastAlgorithm, algorithm)
            }
            let err = relativeError(results[1], results[0])
            XCTAssertLessThanOrEqual(err, Self.tolerance, "\(cin)->\(cout)")
            let inference = try Conv2d(weight: values(shape.reduce(1, *), seed: 13), shape: shape, bias: values(cout, seed: 14),
                                       padding: 1, activation: .relu, algorithm: .winograd)
            try poisonBufferPool()
            let y = try inference.forward(Tensor(shape: [2, cin, 7, 6], values: xv)).floats()
            XCTAssertLessThanOrEqual(relativeError(y, Array(results[0].prefix(y.count))), Self.tolerance, "inference \(cin)->\(cout)")
        }
    }
}
