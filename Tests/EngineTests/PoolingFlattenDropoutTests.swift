import CDNNL
@testable import Engine
import Random
import TestSupport
import XCTest

/// Adaptive average pooling (inference and training, both of its paths), `Flatten` and
/// `TrainDropout` against their definitions.
final class PoolingFlattenDropoutTests: XCTestCase {
    static let tolerance = 1e-5

    /// A tensor of `values` in oneDNN's nChw8c layout (channels in blocks of 8, as on AVX2).
    func blocked(_ shape: [Int], _ values: [Float]) throws -> Tensor {
        try CPUEngine.shared.reorder(Tensor(shape: shape, values: values), to: WinogradConvolution.activationDesc(shape))
    }

    func testAdaptiveAveragePoolingForwardAndBackward() throws {
        // (H, W) -> (oh, ow): bins that overlap, output larger than input, uniform bins (oneDNN), and both.
        for (h, w, oh, ow) in [(5, 5, 3, 3), (1, 1, 7, 7), (14, 14, 7, 7), (6, 4, 7, 7), (7, 7, 1, 1), (9, 6, 3, 2)] {
            let (n, c) = (2, 10)
            let xv = NaiveReference.values(n * c * h * w, seed: UInt64(h * 100 + w))
            let want = NaiveReference.adaptiveAverage(xv, planes: n * c, h: h, w: w, oh: oh, ow: ow)
            for layoutBlocked in [false, true] {
                let x = layoutBlocked ? try blocked([n, c, h, w], xv) : try Tensor(shape: [n, c, h, w], values: xv)
                let what = "\(h)x\(w) -> \(oh)x\(ow) \(layoutBlocked ? "nChw8c" : "plain")"
                let y = try AdaptiveAvgPool2d(outputHeight: oh, outputWidth: ow).forward(x)
                XCTAssertEqual(y.shape, [n, c, oh, ow], what)
                XCTAssertLessThanOrEqual(relativeError(try y.floats(), want.floats), Self.tolerance, what)

                let pool = TrainPool2d(.adaptiveAverage(height: oh, width: ow))
                let yt = try pool.forward(x, pass: .training)
                XCTAssertLessThanOrEqual(relativeError(try yt.floats(), want.floats), Self.tolerance, "training " + what)
                let dyv = NaiveReference.values(n * c * oh * ow, seed: 5)
                let dx = try pool.backward(outputGrad: Tensor(shape: [n, c, oh, ow], values: dyv))
                XCTAssertEqual(dx.shape, [n, c, h, w], what)
                let dxWant = NaiveReference.adaptiveAverageBackward(dyv, planes: n * c, h: h, w: w, oh: oh, ow: ow)
                XCTAssertLessThanOrEqual(relativeError(try dx.floats(), dxWant.floats), Self.tolerance, "backward " + what)
            }
        }
    }

    func testOneByOneToSevenBySevenReplicates() throws {
        let x = try Tensor(shape: [1, 2, 1, 1], values: [3, -4])
        let y = try AdaptiveAvgPool2d(outputHeight: 7, outputWidth: 7).forward(x).floats()
        XCTAssertEqual(y, [Float](repeating: 3, count: 49) + [Float](repeating: -4, count: 49))
        XCTAssertThrowsError(try AdaptiveAvgPool2d(outputHeight: 0, outputWidth: 7))
        let pool = TrainPool2d(.adaptiveAverage(height: 7, width: 7))
        _ = try pool.forward(x, pass: .training)
        XCTAssertThrowsError(try pool.backward(outputGrad: Tensor(shape: [1, 2, 6, 7], values: [Float](repeating: 1, count: 84))))
    }

    func testFlattenFromABlockedLayoutAndBack() throws {
        let shape = [2, 12, 3, 5]   // 12 channels: the second block of 8 is padded
        let xv = NaiveReference.values(shape.reduce(1, *), seed: 20)
        let x = try blocked(shape, xv)
        XCTAssertFalse(x.desc.isPlain)
        let flatten = Flatten()
        let y = try flatten.forward(x, pass: .training)
        XCTAssertEqual(y.shape, [2, 180])
        XCTAssertTrue(y.desc.isPlain)
        XCTAssertEqual(try y.floats(), xv, "C slowest, then H, then W: torch.flatten(x, 1)")
        let dyv = NaiveReference.values(360, seed: 21)
        let dx = try flatten.backward(outputGrad: Tensor(shape: [2, 180], values: dyv))
        XCTAssertEqual(dx.shape, shape)
        XCTAssertEqual(try dx.floats(), dyv)
        XCTAssertThrowsError(try flatten.backward(outputGrad: Tensor(shape: [2, 180], values: dyv)), "consumed")
        // A plain f32 input is not copied.
        let p = try Tensor(shape: shape, values: xv)
        let view = try flatten.forward(p)
        XCTAssertEqual(view.withUnsafeMutableRawPointer { $0 }, p.withUnsafeMutableRawPointer { $0 })
        _ = try flatten.forward(p, pass: .training)
        XCTAssertThrowsError(try flatten.backward(outputGrad: Tensor(shape: [2, 179], values: Array(dyv.prefix(358)))))
    }

    func testDropoutIdentityCases() throws {
        let xv = NaiveReference.values(1000, seed: 30)
        let x = try Tensor(shape: [10, 100], values: xv)
        let d = try TrainDropout(p: 0.5, seed: 1)
        XCTAssertTrue(try d.forward(x, pass: .inference) === x, "inference: the input itself")
        d.enabled = false
        XCTAssertTrue(try d.forward(x, pass: .training) === x, "disabled: the input itself")
        let dy = try Tensor(shape: [10, 100], values: xv)
        XCTAssertTrue(try d.backward(outputGrad: dy) === dy)
        let zero = try TrainDropout(p: 0, seed: 1)
        XCTAssertEqual(try zero.forward(x, pass: .training).floats(), xv, "p = 0 keeps everything, unscaled")
        XCTAssertEqual(try zero.backward(outputGrad: dy).floats(), xv)
        let all = try TrainDropout(p: 1, seed: 1)
        XCTAssertTrue(try all.forward(x, pass: .training).floats().allSatisfy { $0 == 0 })
        XCTAssertThrowsError(try TrainDropout(p: 1.5))
        XCTAssertThrowsError(try TrainDropout(p: -0.1))
        XCTAssertThrowsError(try TrainDropout(p: .nan))
    }

    func testDropoutMaskScaleAndBackward() throws {
        let n = 100_000
        let p: Float = 0.3
        let xv = NaiveReference.values(n, seed: 31).map { $0 + 2 }   // no zeros in x
        let x = try Tensor(shape: [100, 1000], values: xv)
        let d = try TrainDropout(p: p, seed: 42)
        let y = try d.forward(x, pass: .training).floats()
        let mask = try XCTUnwrap(d.lastMask)
        let scale = Float(1) / (1 - p)
        XCTAssertEqual(d.scale, scale)
        // Every value is exactly x * scale or exactly 0, as the mask says.
        for i in 0..<n {
            if mask[i] == 0 { XCTAssertEqual(y[i], 0) } else {
                XCTAssertEqual(mask[i], scale)
                XCTAssertEqual(y[i], xv[i] * scale, "value \(i)")
                if y[i] != xv[i] * scale { break }
            }
        }
        // The fraction dropped is p within 4 standard deviations of a binomial count.
        let dropped = Double(y.filter { $0 == 0 }.count) / Double(n)
        let sigma = (Double(p) * (1 - Double(p)) / Double(n)).squareRoot()
        XCTAssertLessThanOrEqual(abs(dropped - Double(p)), 4 * sigma, "dropped \(dropped)")
        // Backward: dy * mask * scale.
        let dyv = NaiveReference.values(n, seed: 32)
        let dx = try d.backward(outputGrad: Tensor(shape: [100, 1000], values: dyv)).floats()
        XCTAssertEqual(dx, zip(dyv, mask).map { $0 * $1 })
        XCTAssertThrowsError(try d.backward(outputGrad: Tensor(shape: [100, 1000], values: dyv)), "consumed")

        // The same seed draws the same mask; the generator moves on; another seed differs.
        let again = try TrainDropout(p: p, seed: 42)
        XCTAssertEqual(try again.forward(x, pass: .training).floats(), y)
        XCTAssertNotEqual(try again.forward(x, pass: .training).floats(), y, "the next step draws a new mask")
        again.generator = SeededRandom(seed: 42)
        XCTAssertEqual(try again.forward(x, pass: .training).floats(), y, "a generator state set back gives the mask again")
        XCTAssertNotEqual(try TrainDropout(p: p, seed: 43).forward(x, pass: .training).floats(), y)
    }

    /// The mask follows the values' logical order, so a blocked input drops the same values.
    func testDropoutMaskIsLayoutIndependent() throws {
        let shape = [2, 12, 3, 3]
        let xv = NaiveReference.values(shape.reduce(1, *), seed: 33)
        let plain = try TrainDropout(p: 0.4, seed: 9).forward(Tensor(shape: shape, values: xv), pass: .training)
        let b = try blocked(shape, xv)
        let fromBlocked = try TrainDropout(p: 0.4, seed: 9).forward(b, pass: .training)
        XCTAssertEqual(fromBlocked.desc, b.desc, "the output keeps the input's layout")
        XCTAssertEqual(try fromBlocked.floats(), try plain.floats())
    }

    /// Stochastic depth ("row"): each image's whole tensor is kept (times 1 / (1 - p)) or zeroed,
    /// in a blocked layout too; the fraction of images dropped is p (binomial, 4 sigma); the
    /// backward uses the same per-image mask; p = 0 and inference are the identity.
    func testStochasticDepthDropsWholeImages() throws {
        let shape = [2000, 16, 2, 2], per = 64
        let xv = NaiveReference.values(shape.reduce(1, *), seed: 34).map { $0 + 2 }   // no zeros in x
        let p: Float = 0.2
        let d = try TrainDropout(p: p, perSample: true, seed: 5)
        let b = try blocked(shape, xv)
        let out = try d.forward(b, pass: .training)
        XCTAssertEqual(out.desc, b.desc, "the output keeps the input's layout")
        let y = try out.floats()
        XCTAssertEqual(y.count, xv.count)
        var dropped = 0
        for img in 0..<shape[0] {
            let range = (img * per)..<((img + 1) * per)
            if y[img * per] == 0 {
                dropped += 1
                XCTAssertTrue(y[range].allSatisfy { $0 == 0 }, "image \(img) dropped whole")
            } else {
                XCTAssertEqual(Array(y[range]), xv[range].map { $0 * d.scale }, "image \(img) kept whole, scaled")
            }
        }
        let fraction = Double(dropped) / Double(shape[0])
        let sigma = (Double(p) * (1 - Double(p)) / Double(shape[0])).squareRoot()
        XCTAssertLessThanOrEqual(abs(fraction - Double(p)), 4 * sigma, "dropped \(fraction)")
        let dy = [Float](repeating: 1, count: xv.count)
        let dx = try d.backward(outputGrad: blocked(shape, dy)).floats()
        for img in 0..<shape[0] { XCTAssertEqual(dx[img * per], y[img * per] == 0 ? 0 : d.scale, "image \(img)") }
        let x = try Tensor(shape: shape, values: xv)
        XCTAssertTrue(try d.forward(x, pass: .inference) === x)
        XCTAssertTrue(try TrainDropout(p: 0, perSample: true).forward(x, pass: .training) === x, "p = 0: the input itself")
    }

    /// Global average pooling of 8-channel blocks (what grouped convs of 8 channels a group
    /// choose; in bf16 oneDNN 2.6 has only its reference kernel for them, so the pool runs in
    /// channels-last): the means of each channel, f32 and bf16.
    func testGlobalAveragePoolOfEightChannelBlocks() throws {
        let (n, c, h, w) = (2, 24, 5, 6)
        let xv = NaiveReference.values(n * c * h * w, seed: 35)
        let want = (0..<(n * c)).map { p in Double(xv[(p * h * w)..<((p + 1) * h * w)].reduce(0, +)) / Double(h * w) }
        for type in [DataType.f32, .bf16] where type == .f32 || CPUCapabilities.current.bf16 != .unavailable {
            let desc = try MemoryDesc(dims: [n, c, h, w], type: type, tag: dnnl_aBcd8b)
            let x = try CPUEngine.shared.reorder(Tensor(shape: [n, c, h, w], values: xv), to: desc)
            let y = try GlobalAvgPool2d().forward(x)
            XCTAssertEqual(y.shape, [n, c, 1, 1])
            let got = try y.floats()
            XCTAssertEqual(got.count, want.count)
            let tol = type == .f32 ? 1e-6 : 2e-2
            XCTAssertLessThanOrEqual(zip(got, want).map { abs(Double($0) - $1) }.max() ?? .nan, tol, "\(type)")
        }
    }
}
