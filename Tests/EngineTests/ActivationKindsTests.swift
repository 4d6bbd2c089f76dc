import CDNNL
@testable import Engine
import Foundation
import XCTest

/// ReLU6, hardswish, hardsigmoid, SiLU, sigmoid and GELU as oneDNN computes them (standalone, as post-ops of a conv,
/// and their backward) against PyTorch's formulas (`Activation.apply`), and `Multiply`'s
/// broadcast of a [N, C, 1, 1] scale, forward and backward, against loops.
final class ActivationKindsTests: XCTestCase {
    /// Values around every kink (-3, 0, 3, 6) and beyond, in a blocked layout's channel count.
    static func values(_ n: Int) -> [Float] { (0..<n).map { Float($0 % 97) * 0.17 - 8.1 + Float($0 / 97) * 0.013 } }

    func testStandaloneActivationsFollowPyTorchsFormulas() throws {
        let shape = [2, 19, 5, 3]
        let x = Self.values(shape.reduce(1, *))
        let t = try Tensor(shape: shape, values: x)
        for a in Activation.allCases {
            let y = try ActivationLayer(a).forward(t).floats()
            let want = x.map { a.apply($0) }
            XCTAssertEqual(y.count, want.count)
            let err = zip(y, want).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(err, 2e-6, "\(a)")
        }
    }

    /// Each activation's gradient as a TrainActivation computes it (from its output or input),
    /// against PyTorch's backward formulas (hardtanh's, hardswish_backward, hardsigmoid_backward,
    /// silu_backward, sigmoid_backward).
    func testBackwardFollowsPyTorchsFormulas() throws {
        let shape = [2, 19, 5, 3]
        let x = Self.values(shape.reduce(1, *)), dy = x.indices.map { Float(($0 * 5) % 7) * 0.25 - 0.75 }
        func torchGradient(_ a: Activation, _ v: Float, _ g: Float) -> Float {
            switch a {
            case .relu: return v > 0 ? g : 0
            case .relu6: return v > 0 && v < 6 ? g : 0
            case .hardswish: return v < -3 ? 0 : (v <= 3 ? g * (v / 3 + 0.5) : g)
            case .hardsigmoid: return v > -3 && v < 3 ? g / 6 : 0
            case .silu:  // silu_backward: grad * sigmoid(x) * (1 + x * (1 - sigmoid(x)))
                let s = 1 / (1 + expf(-v))
                return g * s * (1 + v * (1 - s))
            case .sigmoid:  // sigmoid_backward from the output y: grad * (1 - y) * y
                let y = 1 / (1 + expf(-v))
                return g * (1 - y) * y
            case .gelu:  // gelu_backward (none): grad * (Φ(x) + x * φ(x))
                let cdf = 0.5 * (1 + erf(Double(v) / 2.0.squareRoot())), pdf = exp(-Double(v * v) / 2) / (2 * Double.pi).squareRoot()
                return Float(Double(g) * (cdf + Double(v) * pdf))
            }
        }
        for a in Activation.allCases {
            let op = try TrainActivation(a)
            _ = try op.forward(Tensor(shape: shape, values: x), pass: .training)
            let got = try op.backward(outputGrad: Tensor(shape: shape, values: dy)).floats()
            let want = x.indices.map { torchGradient(a, x[$0], dy[$0]) }
            XCTAssertEqual(got.count, want.count)
            XCTAssertLessThanOrEqual(zip(got, want).map { abs($0 - $1) }.max() ?? .nan, 1e-6, "\(a)")
        }
    }

    /// Every activation a conv takes as a post-op (one eltwise stage) gives the formula of the
    /// conv's own output, in the layout oneDNN picks.
    func testConvPostOpsFollowPyTorchsFormulas() throws {
        let shape = [2, 5, 6, 7], wShape = [19, 5, 3, 3]
        let x = Self.values(shape.reduce(1, *)).map { $0 * 0.1 }
        let w = Self.values(wShape.reduce(1, *)).map { $0 * 0.05 }, b = Self.values(19).map { $0 * 0.1 }
        let plain = try Conv2d(weight: w, shape: wShape, bias: b, padding: 1).forward(Tensor(shape: shape, values: x)).floats()
        for a in Activation.allCases where a.fusesAsPostOp {
            let y = try Conv2d(weight: w, shape: wShape, bias: b, padding: 1, activation: a).forward(Tensor(shape: shape, values: x)).floats()
            XCTAssertEqual(y.count, plain.count)
            XCTAssertLessThanOrEqual(zip(y, plain.map { a.apply($0) }).map { abs($0 - $1) }.max() ?? .nan, 2e-6, "\(a)")
        }
    }

    func testMultiplyBroadcastsTheScale() throws {
        let (n, c, h, w) = (2, 5, 3, 4)
        let x = Self.values(n * c * h * w), s = (0..<(n * c)).map { Float($0) * 0.25 - 1 }
        let y = try Multiply().forward(Tensor(shape: [n, c, h, w], values: x), Tensor(shape: [n, c, 1, 1], values: s)).floats()
        let want = x.indices.map { x[$0] * s[$0 / (h * w)] }
        XCTAssertEqual(y, want)
    }

    /// x in 8-channel blocks (what grouped convs of 8 channels a group choose; on AVX-512 the
    /// product runs in channels-last, oneDNN having no jit kernel for those blocks): the same
    /// values, in x's layout, forward and backward.
    func testMultiplyInEightChannelBlocks() throws {
        let (n, c, h, w) = (3, 24, 5, 4)
        let x = Self.values(n * c * h * w), s = (0..<(n * c)).map { Float($0) * 0.05 - 1 }
        let blocked = try MemoryDesc(dims: [n, c, h, w], type: .f32, tag: dnnl_aBcd8b)
        let xb = try CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: x), to: blocked)
        let y = try Multiply().forward(xb, Tensor(shape: [n, c, 1, 1], values: s))
        XCTAssertEqual(y.desc, blocked)
        XCTAssertEqual(try y.floats(), x.indices.map { x[$0] * s[$0 / (h * w)] })
        let m = TrainMultiply()
        _ = try m.forward(xb, Tensor(shape: [n, c, 1, 1], values: s), pass: .training)
        let dy = x.indices.map { Float(($0 * 7) % 11) * 0.1 - 0.5 }
        let (dx, ds) = try m.backward(outputGrad: CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: dy), to: blocked), need: (true, true))
        XCTAssertEqual(try XCTUnwrap(dx).floats(), dy.indices.map { dy[$0] * s[$0 / (h * w)] })
        var wantDs = [Float](repeating: 0, count: n * c)
        for i in x.indices { wantDs[i / (h * w)] += dy[i] * x[i] }
        let got = try XCTUnwrap(ds).floats()
        XCTAssertEqual(got.count, wantDs.count)
        XCTAssertLessThanOrEqual(zip(got, wantDs).map { abs($0 - $1) }.max() ?? .nan, 1e-5)
    }

    /// TrainMultiply's backward: dx = dy * s, ds = sum over H, W of dy * x; on 3x4 maps and on
    /// 1x1 ones (where there is nothing to sum).
    func testMultiplyBackwardAgainstLoops() throws {
        for (h, w) in [(3, 4), (1, 1)] {
            let (n, c) = (2, 5)
            let x = Self.values(n * c * h * w), s = (0..<(n * c)).map { Float($0) * 0.25 - 1 }
            let dy = x.indices.map { Float(($0 * 7) % 11) * 0.1 - 0.5 }
            let m = TrainMultiply()
            _ = try m.forward(Tensor(shape: [n, c, h, w], values: x), Tensor(shape: [n, c, 1, 1], values: s), pass: .training)
            let (dx, ds) = try m.backward(outputGrad: Tensor(shape: [n, c, h, w], values: dy), need: (true, true))
            let wantDx = x.indices.map { dy[$0] * s[$0 / (h * w)] }
            var wantDs = [Float](repeating: 0, count: n * c)
            for i in x.indices { wantDs[i / (h * w)] += dy[i] * x[i] }
            XCTAssertEqual(try XCTUnwrap(dx).floats(), wantDx, "\(h)x\(w)")
            let got = try XCTUnwrap(ds).floats()
            XCTAssertEqual(got.count, wantDs.count)
            XCTAssertLessThanOrEqual(zip(got, wantDs).map { abs($0 - $1) }.max() ?? .nan, 1e-5, "\(h)x\(w)")
        }
    }

    /// A bf16 x (channels last) with an f32 scale: the product of every channel (oneDNN 2.6's binary op zeroed
    /// channels 8 to 15 of each 16 when the types differed).
    func testMultiplyOfBF16KeepsEveryChannel() throws {
        try XCTSkipIf(CPUCapabilities.current.bf16 == .unavailable, "no bf16 on \(CPUCapabilities.current.isa)")
        let (n, c) = (2, 32)
        let x = (0..<(n * c)).map { Float($0 % 13) * 0.125 + 0.5 }, s = (0..<(n * c)).map { Float($0 % 5) * 0.25 + 0.25 }
        // Channels last (acdb), as a bf16 conv writes a [N, C, 1, 1] value.
        let xb = try CPUEngine.shared.reorder(Tensor(shape: [n, c, 1, 1], values: x), to: MemoryDesc(dims: [n, c, 1, 1], type: .bf16, tag: dnnl_acdb))
        let y = try Multiply().forward(xb, Tensor(shape: [n, c, 1, 1], values: s)).floats()
        let want = x.indices.map { x[$0] * s[$0] }
        XCTAssertLessThanOrEqual(zip(y, want).map { abs($0 - $1) / max(abs($1), 1e-3) }.max() ?? .nan, 1e-2)
    }
}
