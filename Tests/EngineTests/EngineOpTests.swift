import Random
import Engine
import TestSupport
import XCTest

/// Each op against a direct Swift implementation of PyTorch's definition.
final class EngineOpTests: XCTestCase {
    func random(_ n: Int, seed: UInt64) -> [Float] {
        var r = SeededRandom(seed: seed)
        return (0..<n).map { _ in 2 * r.rand() - 1 }
    }

    /// PyTorch's conv2d (dilation 1) with Double accumulation.
    func referenceConv(_ x: [Float], _ xs: [Int], _ w: [Float], _ ws: [Int], bias: [Float]?, stride: Int, padding: Int, groups: Int) -> ([Float], [Int]) {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3])
        let (o, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
        let oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1
        let og = o / groups
        var out = [Float](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for oc in 0..<o { let g = oc / og
            for y in 0..<oh { for xx in 0..<ow {
                var acc = Double(bias?[oc] ?? 0)
                for ic in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                    let iy = y * stride - padding + ky, ix = xx * stride - padding + kx
                    guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                    acc += Double(x[((b * c + g * cg + ic) * h + iy) * wd + ix]) * Double(w[((oc * cg + ic) * kh + ky) * kw + kx])
                } } }
                out[((b * o + oc) * oh + y) * ow + xx] = Float(acc)
            } }
        } }
        return (out, [n, o, oh, ow])
    }

    func testConv2dMatchesDefinition() throws {
        // (in, out, k, stride, padding, groups, h, w)
        for (i, cfg) in [(3, 8, 7, 2, 3, 1, 17, 13), (8, 16, 3, 1, 1, 1, 9, 9), (8, 8, 3, 2, 1, 2, 10, 7), (16, 32, 1, 2, 0, 1, 8, 8)].enumerated() {
            let (ic, oc, k, s, p, g, h, w) = cfg
            let xs = [2, ic, h, w], ws = [oc, ic / g, k, k]
            let x = random(xs.reduce(1, *), seed: UInt64(i)), wt = random(ws.reduce(1, *), seed: UInt64(100 + i))
            let b = random(oc, seed: UInt64(200 + i))
            let (want, outShape) = referenceConv(x, xs, wt, ws, bias: b, stride: s, padding: p, groups: g)
            let conv = try Conv2d(weight: wt, shape: ws, bias: b, stride: s, padding: p, groups: g)
            let y = try conv.forward(Tensor(shape: xs, values: x))
            XCTAssertEqual(y.shape, outShape)
            XCTAssertLessThanOrEqual(maxAbsError(try y.floats(), want), 1e-4, "conv config \(cfg)")

            // Fused ReLU and residual add: relu(conv(x) + r).
            let fused = try Conv2d(weight: wt, shape: ws, bias: b, stride: s, padding: p, groups: g, fusedReLU: true)
            let r = random(want.count, seed: UInt64(300 + i))
            let z = try fused.forward(Tensor(shape: xs, values: x), accumulatingInto: Tensor(shape: outShape, values: r))
            let wantZ = zip(want, r).map { max($0 + $1, 0) }
            XCTAssertLessThanOrEqual(maxAbsError(try z.floats(), wantZ), 1e-4, "fused conv config \(cfg)")
            XCTAssertGreaterThan(wantZ.filter { $0 == 0 }.count, 0)
        }
    }

    func testConv2dReusesPrimitivesPerShape() throws {
        let conv = try Conv2d(weight: random(8 * 3 * 9, seed: 1), shape: [8, 3, 3, 3], padding: 1)
        for _ in 0..<3 { _ = try conv.forward(Tensor(shape: [2, 3, 8, 8], values: random(2 * 3 * 64, seed: 2))) }
        XCTAssertEqual(conv.cachedPlanCount, 1)
        _ = try conv.forward(Tensor(shape: [1, 3, 8, 8], values: random(3 * 64, seed: 3)))
        XCTAssertEqual(conv.cachedPlanCount, 2)
    }

    func testConv2dRejectsWrongChannels() throws {
        let conv = try Conv2d(weight: random(8 * 3 * 9, seed: 1), shape: [8, 3, 3, 3])
        XCTAssertThrowsError(try conv.forward(Tensor(shape: [1, 4, 8, 8], values: random(4 * 64, seed: 2))))
    }

    func testBatchNormFoldEqualsSeparateBatchNorm() throws {
        let ws = [6, 4, 3, 3], xs = [2, 4, 7, 7]
        let wt = random(ws.reduce(1, *), seed: 5), x = random(xs.reduce(1, *), seed: 6)
        let bn = try BatchNormParameters(weight: random(6, seed: 7).map { $0 + 1.5 }, bias: random(6, seed: 8),
                                         runningMean: random(6, seed: 9), runningVar: random(6, seed: 10).map { $0 + 1.2 })
        let conv = try Conv2d(weight: wt, shape: ws, padding: 1)
        let separate = try BatchNorm2d(bn, fusedReLU: true).forward(conv.forward(Tensor(shape: xs, values: x))).floats()
        let f = try bn.fold(convWeight: wt, convBias: nil)
        let folded = try Conv2d(weight: f.weight, shape: ws, bias: f.bias, padding: 1, fusedReLU: true)
            .forward(Tensor(shape: xs, values: x)).floats()
        // The definition, by hand.
        let (c, _) = referenceConv(x, xs, wt, ws, bias: nil, stride: 1, padding: 1, groups: 1)
        let plane = 49
        let want = c.enumerated().map { i, v -> Float in
            let o = (i / plane) % 6
            return max((v - bn.runningMean[o]) / (bn.runningVar[o] + 1e-5).squareRoot() * bn.weight[o] + bn.bias[o], 0)
        }
        XCTAssertLessThanOrEqual(maxAbsError(separate, want), 1e-4)
        XCTAssertLessThanOrEqual(maxAbsError(folded, want), 1e-4)
    }

    func testPoolingMatchesDefinition() throws {
        let xs = [2, 3, 9, 6]
        let x = random(xs.reduce(1, *), seed: 11)
        let mp = try MaxPool2d(kernel: 3, stride: 2, padding: 1)
        let y = try mp.forward(Tensor(shape: xs, values: x))
        XCTAssertEqual(y.shape, [2, 3, 5, 3])
        var want: [Float] = []
        for nc in 0..<6 { for oy in 0..<5 { for ox in 0..<3 {
            var m = -Float.infinity
            for ky in 0..<3 { for kx in 0..<3 {
                let iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx
                if iy >= 0, iy < 9, ix >= 0, ix < 6 { m = max(m, x[nc * 54 + iy * 6 + ix]) }
            } }
            want.append(m)
        } } }
        XCTAssertEqual(try y.floats(), want)

        let avg = try GlobalAvgPool2d().forward(Tensor(shape: xs, values: x))
        XCTAssertEqual(avg.shape, [2, 3, 1, 1])
        let wantAvg = (0..<6).map { nc in x[(nc * 54)..<((nc + 1) * 54)].reduce(0, +) / 54 }
        XCTAssertLessThanOrEqual(maxAbsError(try avg.floats(), wantAvg), 1e-6)
    }

    func testLinearAndSoftmax() throws {
        let x = random(3 * 10, seed: 12), w = random(4 * 10, seed: 13), b = random(4, seed: 14)
        let y = try Linear(weight: w, outFeatures: 4, inFeatures: 10, bias: b).forward(Tensor(shape: [3, 10, 1, 1], values: x))
        XCTAssertEqual(y.shape, [3, 4])
        let want = (0..<12).map { i -> Float in
            let (r, o) = (i / 4, i % 4)
            return b[o] + (0..<10).reduce(Float(0)) { $0 + x[r * 10 + $1] * w[o * 10 + $1] }
        }
        let got = try y.floats()
        XCTAssertLessThanOrEqual(maxAbsError(got, want), 1e-5)

        let p = try Softmax.forward(got, rows: 3, cols: 4)
        for r in 0..<3 {
            let row = Array(got[(r * 4)..<(r * 4 + 4)]), e = row.map { exp(Double($0)) }, s = e.reduce(0, +)
            for c in 0..<4 { XCTAssertEqual(Double(p[r * 4 + c]), e[c] / s, accuracy: 1e-6) }
        }
        XCTAssertThrowsError(try Softmax.forward(got, rows: 2, cols: 4))
    }

    func testReLUAndAdd() throws {
        let a = random(2 * 3 * 5 * 4, seed: 16), b = random(2 * 3 * 5 * 4, seed: 17)
        let ta = try Tensor(shape: [2, 3, 5, 4], values: a), tb = try Tensor(shape: [2, 3, 5, 4], values: b)
        XCTAssertEqual(try ActivationLayer(.relu).forward(ta).floats(), a.map { max($0, 0) })
        XCTAssertEqual(try Add().forward(ta, tb).floats(), zip(a, b).map { $0 + $1 })
        XCTAssertEqual(try Add(fusedReLU: true).forward(ta, tb).floats(), zip(a, b).map { max($0 + $1, 0) })
        // Mixed layouts: b in a blocked layout from a conv.
        let conv = try Conv2d(weight: random(3 * 3, seed: 18), shape: [3, 3, 1, 1])
        let cb = try conv.forward(tb)
        let cbv = try cb.floats()
        XCTAssertLessThanOrEqual(maxAbsError(try Add().forward(ta, cb).floats(), zip(a, cbv).map { $0 + $1 }), 1e-6)
        XCTAssertThrowsError(try Add().forward(ta, Tensor(shape: [2, 3, 4, 5], values: b)))
    }

    func testTensorRoundTripAndBF16() throws {
        let x = random(2 * 3 * 4 * 5, seed: 15)
        let t = try Tensor(shape: [2, 3, 4, 5], values: x)
        XCTAssertEqual(try t.floats(), x)
        let b = try CPUEngine.shared.reorder(t, to: .plain([2, 3, 4, 5], .bf16))
        XCTAssertEqual(b.dataType, .bf16)
        let back = try b.floats()
        XCTAssertLessThanOrEqual(maxAbsError(back, x), 1.0 / 128)  // 8 significant bits
        XCTAssertGreaterThan(maxAbsError(back, x), 0)
        XCTAssertThrowsError(try Tensor(shape: [2, 3], values: [1, 2, 3]))
    }
}
