@testable import Engine
import XCTest

/// Graft's depthwise weight gradient (`DepthwiseWeightGradient`, used where oneDNN 2.6 falls
/// back to gemm: 5x5 filters) against a float64 loop and against oneDNN's own, at strides 1 and
/// 2, odd sizes and channel counts off the 16-channel blocks; the input gradient is oneDNN's
/// either way.
final class DepthwiseGradientTests: XCTestCase {
    func testWeightGradientMatchesTheDefinitionAndOneDNN() throws {
        for (c, k, s, p, h, w) in [(19, 5, 1, 2, 9, 9), (16, 5, 2, 2, 11, 10), (8, 3, 1, 1, 7, 6), (24, 3, 2, 1, 9, 8), (5, 5, 2, 2, 4, 3)] {
            let n = 3
            let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
            let x = NaiveReference.values(n * c * h * w, seed: 40), wt = NaiveReference.values(c * k * k, seed: 41, scale: 0.3)
            let dy = NaiveReference.values(n * c * oh * ow, seed: 42)
            var want = [Double](repeating: 0, count: c * k * k)
            for b in 0..<n { for ch in 0..<c { for i in 0..<k { for j in 0..<k { for y in 0..<oh { for xo in 0..<ow {
                let yy = y * s - p + i, xx = xo * s - p + j
                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                want[(ch * k + i) * k + j] += Double(dy[((b * c + ch) * oh + y) * ow + xo]) * Double(x[((b * c + ch) * h + yy) * w + xx])
            } } } } } }
            var grads: [[Float]] = [], inputGrads: [[Float]] = []
            for own in [true, false] {
                let weight = Parameter(name: "w", shape: [c, 1, k, k], values: wt)
                let conv = try TrainConv2d(weight: weight, stride: s, padding: p, groups: c)
                conv.forceOwnDepthwiseGradient = own
                _ = try conv.forward(Tensor(shape: [n, c, h, w], values: x), pass: .training)
                let dx = try XCTUnwrap(conv.backward(outputGrad: Tensor(shape: [n, c, oh, ow], values: dy), needInputGrad: true))
                grads.append(Array(weight.grad))
                inputGrads.append(try dx.floats())
            }
            let tag = "c\(c) k\(k) s\(s) \(h)x\(w)"
            let scale = want.map(abs).max()!
            XCTAssertEqual(grads[0].count, want.count, tag)
            XCTAssertLessThanOrEqual(zip(grads[0], want).map { abs(Double($0) - $1) }.max() ?? .nan, 1e-6 * scale, "\(tag): against the definition")
            XCTAssertLessThanOrEqual(zip(grads[0], grads[1]).map { abs(Double($0 - $1)) }.max() ?? .nan, 1e-5 * scale, "\(tag): against oneDNN's")
            XCTAssertEqual(inputGrads[0], inputGrads[1], tag)
        }
    }
}
