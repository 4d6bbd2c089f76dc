import CDNNL
@testable import Engine
import TestSupport
import XCTest

/// `ChannelLayerNorm` and `TrainChannelLayerNorm` (torchvision's `LayerNorm2d`), and
/// `ChannelScale` / `TrainChannelScale` (ConvNeXt's layer scale), against their float64
/// definitions, from every layout a conv leaves: forward, input and parameter gradients.
final class LayerNormTests: XCTestCase {
    /// y = (x - mean) / sqrt(var + eps) * w + b over each pixel's channels (biased variance),
    /// and the gradients for dy.
    func reference(_ x: [Float], n: Int, c: Int, hw: Int, w: [Float], b: [Float], eps: Double, dy: [Float])
        -> (y: [Double], dx: [Double], dw: [Double], db: [Double]) {
        var y = [Double](repeating: 0, count: x.count), dx = y
        var dw = [Double](repeating: 0, count: c), db = dw
        for i in 0..<n { for p in 0..<hw {
            let idx = (0..<c).map { ((i * c) + $0) * hw + p }
            let v = idx.map { Double(x[$0]) }
            let mean = v.reduce(0, +) / Double(c)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            let inv = 1 / (variance + eps).squareRoot()
            let xhat = v.map { ($0 - mean) * inv }
            let g = idx.map { Double(dy[$0]) }
            var sumG = 0.0, sumGX = 0.0
            for k in 0..<c {
                y[idx[k]] = xhat[k] * Double(w[k]) + Double(b[k])
                dw[k] += g[k] * xhat[k]; db[k] += g[k]
                let gk = g[k] * Double(w[k])
                sumG += gk; sumGX += gk * xhat[k]
            }
            for k in 0..<c {
                dx[idx[k]] = inv * (g[k] * Double(w[k]) - sumG / Double(c) - xhat[k] * sumGX / Double(c))
            }
        } }
        return (y, dx, dw, db)
    }

    func testLayerNormOverChannelsIsTorchs() throws {
        let (n, c, h, w) = (2, 24, 3, 5)
        let x = NaiveReference.values(n * c * h * w, seed: 1, scale: 2).enumerated().map { $0.element + Float($0.offset % 7) * 0.3 }
        let weight = NaiveReference.values(c, seed: 2).map { $0 + 1 }, bias = NaiveReference.values(c, seed: 3)
        let dy = NaiveReference.values(x.count, seed: 4)
        let want = reference(x, n: n, c: c, hw: h * w, w: weight, b: bias, eps: 1e-6, dy: dy)
        for tag in [dnnl_abcd, dnnl_acdb, dnnl_aBcd8b, dnnl_aBcd16b] {
            let what = "tag \(tag.rawValue)"
            let t = try CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: x), to: MemoryDesc(dims: [n, c, h, w], type: .f32, tag: tag))
            let y = try ChannelLayerNorm(weight: weight, bias: bias).forward(t)
            XCTAssertEqual(y.shape, [n, c, h, w], what)
            XCTAssertLessThanOrEqual(relativeError(try y.floats(), want.y.floats), 1e-5, what)

            let pw = Parameter(name: "w", shape: [c], values: weight), pb = Parameter(name: "b", shape: [c], values: bias)
            let ln = try TrainChannelLayerNorm(weight: pw, bias: pb)
            let yt = try ln.forward(t, pass: .training)
            XCTAssertLessThanOrEqual(relativeError(try yt.floats(), want.y.floats), 1e-5, "training " + what)
            let dx = try ln.backward(outputGrad: CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: dy), to: t.desc))
            XCTAssertEqual(dx.shape, [n, c, h, w])
            XCTAssertLessThanOrEqual(relativeError(try dx.floats(), want.dx.floats), 1e-5, "dx " + what)
            XCTAssertLessThanOrEqual(relativeError(Array(pw.grad), want.dw.floats), 1e-5, "dw " + what)
            XCTAssertLessThanOrEqual(relativeError(Array(pb.grad), want.db.floats), 1e-5, "db " + what)
            XCTAssertThrowsError(try ln.backward(outputGrad: Tensor(shape: [n, c, h, w], values: dy)), "consumed")
            _ = try ln.forward(t, pass: .inference)
            XCTAssertThrowsError(try ln.backward(outputGrad: Tensor(shape: [n, c, h, w], values: dy)), "an inference pass keeps nothing")
        }
        XCTAssertThrowsError(try ChannelLayerNorm(weight: [1, 2], bias: [1]))
        XCTAssertThrowsError(try ChannelLayerNorm(weight: [1, 2], bias: [1, 2]).forward(Tensor(shape: [1, 3, 1, 1], values: [1, 2, 3])))
    }

    /// ConvNeXt's layer scale, `gamma * x` per channel: forward in the input's layout, the
    /// input's gradient `gamma * dy`, gamma's `sum dy * x`; a frozen gamma's gradient untouched.
    func testLayerScale() throws {
        let (n, c, h, w) = (2, 24, 3, 5)
        let x = NaiveReference.values(n * c * h * w, seed: 6), gamma = NaiveReference.values(c, seed: 7)
        let dy = NaiveReference.values(x.count, seed: 8)
        let plane = h * w
        let want = x.indices.map { x[$0] * gamma[($0 / plane) % c] }
        let wantDx = dy.indices.map { dy[$0] * gamma[($0 / plane) % c] }
        var wantDg = [Double](repeating: 0, count: c)
        for i in x.indices { wantDg[(i / plane) % c] += Double(dy[i]) * Double(x[i]) }
        for tag in [dnnl_abcd, dnnl_acdb, dnnl_aBcd8b, dnnl_aBcd16b] {
            let what = "tag \(tag.rawValue)"
            let t = try CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: x), to: MemoryDesc(dims: [n, c, h, w], type: .f32, tag: tag))
            let y = try ChannelScale(gamma).forward(t)
            XCTAssertEqual(y.desc, t.desc, what)
            XCTAssertEqual(try y.floats(), want, what)
            let g = Parameter(name: "layer_scale", shape: [c, 1, 1], values: gamma)
            let scale = try TrainChannelScale(gamma: g)
            _ = try scale.forward(t, pass: .training)
            let dx = try scale.backward(outputGrad: CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: dy), to: t.desc))
            XCTAssertEqual(try dx.floats(), wantDx, what)
            XCTAssertLessThanOrEqual(relativeError(Array(g.grad), wantDg.floats), 1e-6, what)
            XCTAssertThrowsError(try scale.backward(outputGrad: dx), "consumed")
            g.trainable = false
            g.grad.update(repeating: 0)
            _ = try scale.forward(t, pass: .training)
            _ = try scale.backward(outputGrad: dx)
            XCTAssertTrue(g.grad.allSatisfy { $0 == 0 }, "frozen: " + what)
        }
        XCTAssertThrowsError(try ChannelScale([1, 2]).forward(Tensor(shape: [1, 3, 1, 1], values: [1, 2, 3])))
    }

    /// bf16 in: computed in float32 (as PyTorch's autocast does), float32 out, the f32 result of the rounded input.
    func testBF16Input() throws {
        try XCTSkipIf(CPUCapabilities.current.bf16 == .unavailable, "no bf16 on \(CPUCapabilities.current.isa)")
        let (n, c, h, w) = (2, 16, 2, 3)
        let x = NaiveReference.values(n * c * h * w, seed: 5, scale: 3)
        let weight = [Float](repeating: 1.5, count: c), bias = [Float](repeating: 0.25, count: c)
        let t = try CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: x), to: MemoryDesc(dims: [n, c, h, w], type: .bf16, tag: dnnl_aBcd16b))
        let ln = try ChannelLayerNorm(weight: weight, bias: bias)
        let got = try ln.forward(t).floats(), want = try ln.forward(CPUEngine.shared.reorder(t, to: .plain(t.shape, .f32))).floats()
        XCTAssertEqual(got.count, want.count)
        XCTAssertEqual(try ln.forward(t).dataType, .f32)
        XCTAssertEqual(got, want)
    }
}
