@testable import Engine
import TestSupport
import XCTest

/// `TrainLinear` with an optional bias and a fused ReLU, `TrainBatchNorm` with PyTorch's `eps`
/// and `momentum` (oneDNN's path and the synchronised one), `TrainActivation`, and the
/// inference ops' `activation`: against float64 definitions, forward and backward.
final class LinearBatchNormActivationTests: XCTestCase {
    static let tolerance = 1e-5

    func testLinearWithAndWithoutBiasAndReLU() throws {
        let (n, k, o) = (5, 24, 7)
        let xv = NaiveReference.values(n * k, seed: 1), wv = NaiveReference.values(o * k, seed: 2, scale: 0.3)
        let bv = NaiveReference.values(o, seed: 3)
        let dyv = NaiveReference.values(n * o, seed: 4)
        for (withBias, activation) in [(true, nil), (true, Activation.relu), (false, .relu), (false, nil)] {
            let weight = Parameter(name: "fc.weight", shape: [o, k], values: wv)
            let bias = withBias ? Parameter(name: "fc.bias", shape: [o], values: bv) : nil
            let fc = try TrainLinear(weight: weight, bias: bias, activation: activation)
            XCTAssertEqual(fc.parameters.count, withBias ? 2 : 1)
            let y = try fc.forward(Tensor(shape: [n, k], values: xv))
            let z = NaiveReference.linear(xv, wv, withBias ? bv : nil, n: n, in: k, out: o)
            let want = activation == .relu ? NaiveReference.relu(z) : z
            let what = "bias \(withBias) \(activation?.rawValue ?? "none")"
            XCTAssertLessThanOrEqual(relativeError(try y.floats(), want.floats), Self.tolerance, what)
            if activation != nil { XCTAssertTrue(try y.floats().contains(0), what) }
            let dz = activation == .relu ? NaiveReference.reluBackward(want, dyv.map(Double.init)) : dyv.map(Double.init)
            let (dxWant, dwWant, dbWant) = NaiveReference.linearBackward(xv, wv, dz, n: n, in: k, out: o)
            weight.grad.update(repeating: .nan)
            let dx = try XCTUnwrap(fc.backward(outputGrad: Tensor(shape: [n, o], values: dyv), needInputGrad: true, overwriting: true))
            XCTAssertLessThanOrEqual(relativeError(try dx.floats(), dxWant.floats), Self.tolerance, what)
            XCTAssertLessThanOrEqual(relativeError(Array(weight.grad), dwWant.floats), Self.tolerance, what)
            if let b = bias { XCTAssertLessThanOrEqual(relativeError(Array(b.grad), dbWant.floats), Self.tolerance, what) }

            // The inference Linear's activation is the same map.
            let inference = try Linear(weight: wv, outFeatures: o, inFeatures: k, bias: withBias ? bv : nil, activation: activation)
            XCTAssertLessThanOrEqual(relativeError(try inference.forward(Tensor(shape: [n, k], values: xv)).floats(), want.floats),
                                     Self.tolerance, what)
        }
    }

    /// Batch statistics with eps 1e-3 and momentum 0.01: output, running statistics, and the
    /// three gradients, through the fused ReLU; then running statistics (eps again).
    func checkBatchNorm(synchronized: Bool) throws {
        let (n, c, h, w) = (3, 5, 4, 6)
        let hw = h * w
        let eps = 1e-3, momentum: Float = 0.01
        let xv = NaiveReference.values(n * c * hw, seed: 5, scale: 2).enumerated().map { $1 + Float($0 % 3) * 0.25 }
        let gv = NaiveReference.values(c, seed: 6).map { $0 + 1.5 }, bv = NaiveReference.values(c, seed: 7)
        let rm0 = NaiveReference.values(c, seed: 8), rv0 = NaiveReference.values(c, seed: 9).map { $0 + 1.5 }
        let weight = Parameter(name: "bn.weight", shape: [c], values: gv), bias = Parameter(name: "bn.bias", shape: [c], values: bv)
        let bn = try TrainBatchNorm(weight: weight, bias: bias, runningMean: rm0, runningVar: rv0, eps: Float(eps), momentum: momentum,
                                    activation: .relu)
        if synchronized { bn.crossProcessSum = { _ in } }  // one process: the global sums are its own
        XCTAssertEqual(bn.eps, Float(eps)); XCTAssertEqual(bn.momentum, momentum); XCTAssertTrue(bn.fusedReLU)
        let x = try Tensor(shape: [n, c, h, w], values: xv)
        let y = try bn.forward(x, statistics: .batch, pass: .training)
        let ref = NaiveReference.batchNorm(xv, n: n, c: c, hw: hw, weight: gv, bias: bv, eps: eps)
        let want = NaiveReference.relu(ref.y)
        let what = synchronized ? "synchronised" : "oneDNN"
        XCTAssertLessThanOrEqual(relativeError(try y.floats(), want.floats), Self.tolerance, what)
        let m = Double(momentum)
        let rmWant = (0..<c).map { (1 - m) * Double(rm0[$0]) + m * ref.mean[$0] }
        let rvWant = (0..<c).map { (1 - m) * Double(rv0[$0]) + m * ref.unbiasedVar[$0] }
        XCTAssertLessThanOrEqual(relativeError(bn.runningMean, rmWant.floats), Self.tolerance, what)
        XCTAssertLessThanOrEqual(relativeError(bn.runningVar, rvWant.floats), Self.tolerance, what)
        XCTAssertEqual(bn.numBatchesTracked, 1)

        let dyv = NaiveReference.values(xv.count, seed: 10)
        let dz = NaiveReference.reluBackward(want, dyv.map(Double.init))
        let (dxWant, dwWant, dbWant) = NaiveReference.batchNormBackward(xv, dz, n: n, c: c, hw: hw, weight: gv, eps: eps)
        let dx = try bn.backward(outputGrad: Tensor(shape: x.shape, values: dyv))
        XCTAssertLessThanOrEqual(relativeError(try dx.floats(), dxWant.floats), Self.tolerance, what)
        XCTAssertLessThanOrEqual(relativeError(Array(weight.grad), dwWant.floats), Self.tolerance, what)
        XCTAssertLessThanOrEqual(relativeError(Array(bias.grad), dbWant.floats), Self.tolerance, what)

        // Running statistics: (x - running mean) / sqrt(running var + eps), with eps 1e-3.
        let rm = bn.runningMean, rv = bn.runningVar
        let yr = try bn.forward(x, statistics: .running, pass: .inference).floats()
        let wantR = xv.indices.map { i -> Double in
            let ch = (i / hw) % c
            return max((Double(xv[i]) - Double(rm[ch])) / (Double(rv[ch]) + eps).squareRoot() * Double(gv[ch]) + Double(bv[ch]), 0)
        }
        XCTAssertLessThanOrEqual(relativeError(yr, wantR.floats), Self.tolerance, what)
    }

    func testBatchNormEpsAndMomentum() throws { try checkBatchNorm(synchronized: false) }
    func testSynchronizedBatchNormEpsAndMomentum() throws { try checkBatchNorm(synchronized: true) }

    /// The defaults are PyTorch's, and the `fusedReLU` forward is the same op.
    func testBatchNormDefaultsAndFusedReLUForward() throws {
        let c = 4
        let p = { (name: String) in Parameter(name: name, shape: [c], values: NaiveReference.values(c, seed: 11)) }
        let a = try TrainBatchNorm(weight: p("w"), bias: p("b"), runningMean: [0, 0, 0, 0], runningVar: [1, 1, 1, 1], fusedReLU: true)
        XCTAssertEqual(a.eps, 1e-5); XCTAssertEqual(a.momentum, 0.1); XCTAssertEqual(a.activation, .relu)
        let b = try TrainBatchNorm(weight: p("w"), bias: p("b"), runningMean: [0, 0, 0, 0], runningVar: [1, 1, 1, 1], activation: .relu)
        let x = try Tensor(shape: [2, c, 3, 3], values: NaiveReference.values(72, seed: 12))
        XCTAssertEqual(try a.forward(x, statistics: .batch, pass: .training).floats(), try b.forward(x, statistics: .batch, pass: .training).floats())
        XCTAssertEqual(a.runningVar, b.runningVar)
        XCTAssertThrowsError(try TrainBatchNorm(weight: p("w"), bias: p("b"), runningMean: [0, 0, 0, 0], runningVar: [1, 1, 1, 1], eps: 0))
    }

    func testTrainActivationForwardAndBackward() throws {
        let xv = NaiveReference.values(2 * 12 * 5 * 5, seed: 13)
        let conv = try Conv2d(weight: NaiveReference.values(12 * 12, seed: 14), shape: [12, 12, 1, 1])
        let x = try conv.forward(Tensor(shape: [2, 12, 5, 5], values: xv))   // a blocked layout
        let xs = try x.floats()
        let act = try TrainActivation(.relu)
        let y = try act.forward(x, pass: .training)
        XCTAssertEqual(y.desc, x.desc)
        XCTAssertEqual(try y.floats(), xs.map { max($0, 0) })
        let dyv = NaiveReference.values(xs.count, seed: 15)
        let dx = try act.backward(outputGrad: Tensor(shape: x.shape, values: dyv), overwriting: true)
        XCTAssertEqual(try dx.floats(), zip(xs, dyv).map { $0 > 0 ? $1 : 0 })
        XCTAssertThrowsError(try act.backward(outputGrad: Tensor(shape: x.shape, values: dyv)), "the forward was consumed")
        _ = try act.forward(x, pass: .inference)
        XCTAssertThrowsError(try act.backward(outputGrad: Tensor(shape: x.shape, values: dyv)), "an inference pass keeps nothing")
    }

    func testInferenceBatchNormAndAddActivation() throws {
        let c = 3
        let params = try BatchNormParameters(weight: [1.5, -0.5, 2], bias: [0.1, 0.2, -0.3], runningMean: [0.1, -0.2, 0.3],
                                             runningVar: [1.2, 0.7, 2.0], eps: 1e-3)
        let xv = NaiveReference.values(2 * c * 16, seed: 16)
        let x = try Tensor(shape: [2, c, 4, 4], values: xv)
        let y = try BatchNorm2d(params, activation: .relu).forward(x).floats()
        XCTAssertEqual(y, try BatchNorm2d(params, fusedReLU: true).forward(x).floats())
        let want = xv.indices.map { i -> Double in
            let ch = (i / 16) % c
            let v = (Double(xv[i]) - Double(params.runningMean[ch])) / (Double(params.runningVar[ch]) + 1e-3).squareRoot()
            return max(v * Double(params.weight[ch]) + Double(params.bias[ch]), 0)
        }
        XCTAssertLessThanOrEqual(relativeError(y, want.floats), Self.tolerance)
        let bv = NaiveReference.values(xv.count, seed: 17)
        XCTAssertEqual(try Add(activation: .relu).forward(x, Tensor(shape: x.shape, values: bv)).floats(), zip(xv, bv).map { max($0 + $1, 0) })
    }
}
