import CDNNL
@testable import Engine
import Random
import TestSupport
import XCTest

/// `Concat` and `TrainConcat` (`torch.cat(xs, 1)` and its gradient) and `AvgPool2d` /
/// `TrainPool2d(.average)` (`nn.AvgPool2d`, `count_include_pad=True`) against their definitions,
/// in the layouts the convs around them choose.
final class ConcatAvgPoolTests: XCTestCase {
    func tensor(_ shape: [Int], _ values: [Float], tag: dnnl_format_tag_t, type: DataType = .f32) throws -> Tensor {
        try CPUEngine.shared.reorder(Tensor(shape: shape, values: values), to: MemoryDesc(dims: shape, type: type, tag: tag))
    }

    /// torch.cat(xs, 1) of plain NCHW values.
    func concatenated(_ xs: [[Float]], channels: [Int], n: Int, plane: Int) -> [Float] {
        var out: [Float] = []
        for b in 0..<n { for (x, c) in zip(xs, channels) { out += x[(b * c * plane)..<((b + 1) * c * plane)] } }
        return out
    }

    /// Whether the channels a blocked `[N, C, H, W]` tensor pads its last block with are zeros.
    func paddingIsZero(_ t: Tensor, block: Int) -> Bool {
        let (n, c, plane) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
        guard block > 1, c % block != 0, t.dataType == .f32 else { return true }
        let blocks = (c + block - 1) / block
        return t.withUnsafeMutableRawPointer { raw in
            let v = raw.assumingMemoryBound(to: Float.self)
            for b in 0..<n { for p in 0..<plane { for lane in (c % block)..<block {
                if v[((b * blocks + blocks - 1) * plane + p) * block + lane] != 0 { return false }
            } } }
            return true
        }
    }

    func testConcatInEveryLayoutIsTorchCat() throws {
        let (n, h, w) = (2, 3, 5)
        // Channels that fill 16-channel blocks, that do not (a dense layer's growth of 4, 12),
        // and one input alone (the identity).
        let cases: [(channels: [Int], tags: [dnnl_format_tag_t])] = [
            ([16, 32, 16], [dnnl_aBcd16b, dnnl_aBcd16b, dnnl_aBcd16b]),
            ([8, 8], [dnnl_aBcd8b, dnnl_aBcd8b]),
            ([8, 4, 12, 4], [dnnl_aBcd8b, dnnl_aBcd8b, dnnl_aBcd8b, dnnl_aBcd8b]),
            ([16, 4], [dnnl_aBcd16b, dnnl_abcd]),
            ([3, 5], [dnnl_abcd, dnnl_acdb]),
            ([7], [dnnl_aBcd8b]),
            // Inception's Mixed_5d at 1/8 width: 8-channel ranges in 16-channel blocks, a
            // 12-channel range starting on a block and ending inside one, before the last.
            ([8, 8, 12, 8], [dnnl_aBcd16b, dnnl_aBcd16b, dnnl_aBcd16b, dnnl_aBcd16b]),
            ([8, 12, 4, 8], [dnnl_aBcd8b, dnnl_aBcd8b, dnnl_aBcd8b, dnnl_aBcd8b]),
        ]
        for (k, c) in cases.enumerated() {
            let values = c.channels.enumerated().map { NaiveReference.values(n * $0.element * h * w, seed: UInt64(10 * k + $0.offset)) }
            let xs = try zip(c.channels, zip(values, c.tags)).map { try tensor([n, $0, h, w], $1.0, tag: $1.1) }
            let what = "channels \(c.channels)"
            let y = try Concat().forward(xs)
            XCTAssertEqual(y.shape, [n, c.channels.reduce(0, +), h, w], what)
            XCTAssertEqual(try y.floats(), concatenated(values, channels: c.channels, n: n, plane: h * w), what)

            // The gradient: each input's channels of dy, in the input's layout, whether dy comes in
            // the concatenation's layout or blocked (from a conv's backward).
            let dyv = NaiveReference.values(y.elementCount, seed: UInt64(99 + k))
            for dyDesc in [y.desc, try MemoryDesc(dims: y.shape, type: .f32, tag: dnnl_aBcd16b), try MemoryDesc(dims: y.shape, type: .f32, tag: dnnl_aBcd8b)] {
                let concat = TrainConcat()
                _ = try concat.forward(xs, pass: .training)
                let dy = try CPUEngine.shared.reorder(Tensor(shape: y.shape, values: dyv), to: dyDesc)
                let need = c.channels.indices.map { $0 != 1 }
                let dxs = try concat.backward(outputGrad: dy, need: need)
                XCTAssertThrowsError(try concat.backward(outputGrad: dy, need: need), "consumed: " + what)
                var offset = 0
                for (i, ch) in c.channels.enumerated() {
                    defer { offset += ch }
                    guard need[i] else { XCTAssertNil(dxs[i], what); continue }
                    let dx = try XCTUnwrap(dxs[i], what)
                    XCTAssertEqual(dx.desc, xs[i].desc, "input \(i) of \(what): its own layout")
                    var want: [Float] = []
                    let total = y.shape[1], plane = h * w
                    for b in 0..<n {
                        let start: Int = (b * total + offset) * plane
                        want += dyv[start..<(start + ch * plane)]
                    }
                    XCTAssertEqual(try dx.floats(), want, "input \(i) of \(what), dy \(dyDesc)")
                    let block = c.tags[i] == dnnl_aBcd16b ? 16 : c.tags[i] == dnnl_aBcd8b ? 8 : 1
                    XCTAssertTrue(paddingIsZero(dx, block: block), "input \(i) of \(what), dy \(dyDesc): oneDNN's kernels count on zero padding")
                }
            }
        }
    }

    func testConcatOfMixedTypesTakesTheFirstsAndRefusesOtherSizes() throws {
        let a = NaiveReference.values(2 * 16 * 4, seed: 1), b = NaiveReference.values(2 * 8 * 4, seed: 2)
        let xa = try tensor([2, 16, 2, 2], a, tag: dnnl_aBcd16b, type: .bf16)
        let xb = try tensor([2, 8, 2, 2], b, tag: dnnl_aBcd8b)
        let y = try Concat().forward([xa, xb])
        XCTAssertEqual(y.dataType, .bf16)
        let rounded = try [xa.floats(), CPUEngine.shared.reorder(xb, to: .plain(xb.shape, .bf16)).floats()]
        XCTAssertEqual(try y.floats(), concatenated(rounded, channels: [16, 8], n: 2, plane: 4))
        XCTAssertThrowsError(try Concat().forward([xa, try tensor([2, 8, 2, 1], Array(b.prefix(16)), tag: dnnl_abcd)]), "other W")
        XCTAssertThrowsError(try Concat().forward([xa, try tensor([1, 8, 2, 2], Array(b.prefix(32)), tag: dnnl_abcd)]), "other N")
        XCTAssertThrowsError(try Concat().forward([]), "nothing")
        XCTAssertThrowsError(try TrainConcat().backward(outputGrad: xa, need: [true]), "no forward")
    }

    /// The batch norm (and ReLU) of a concatenation, fused or (other layouts, bf16) not: the same
    /// as the concatenation then the batch norm, in every layout.
    func testConcatBatchNormIsTheBatchNormOfTheConcatenation() throws {
        let (n, h, w) = (2, 3, 5)
        let cases: [(channels: [Int], tags: [dnnl_format_tag_t], type: DataType, fused: Bool)] = [
            ([3, 5, 4], [dnnl_acdb, dnnl_acdb, dnnl_acdb], .f32, true),
            ([16, 32, 16], [dnnl_aBcd16b, dnnl_aBcd16b, dnnl_aBcd16b], .f32, true),
            ([8, 8, 16], [dnnl_aBcd8b, dnnl_aBcd8b, dnnl_aBcd8b], .f32, true),
            ([8, 4], [dnnl_aBcd8b, dnnl_aBcd8b], .f32, false),
            ([16, 16], [dnnl_aBcd16b, dnnl_acdb], .f32, false),
            ([16, 16], [dnnl_aBcd16b, dnnl_aBcd16b], .bf16, true),
            ([3, 5], [dnnl_acdb, dnnl_acdb], .bf16, true),
            ([8, 8], [dnnl_aBcd8b, dnnl_aBcd8b], .bf16, true),
            ([6], [dnnl_acdb], .f32, true),
        ]
        // bf16's reference (oneDNN's batch norm) needs a CPU with bf16 kernels (inference refuses bf16 elsewhere).
        for (k, c) in cases.enumerated() where c.type == .f32 || CPUCapabilities.current.bf16 != .unavailable {
            let total = c.channels.reduce(0, +)
            let values = c.channels.enumerated().map { NaiveReference.values(n * $0.element * h * w, seed: UInt64(50 + 10 * k + $0.offset)) }
            let xs = try zip(c.channels, zip(values, c.tags)).map { try tensor([n, $0, h, w], $1.0, tag: $1.1, type: c.type) }
            let p = try BatchNormParameters(weight: NaiveReference.values(total, seed: 1).map { $0 + 1.5 },
                                            bias: NaiveReference.values(total, seed: 2), runningMean: NaiveReference.values(total, seed: 3),
                                            runningVar: NaiveReference.values(total, seed: 4).map { $0 + 1.2 })
            XCTAssertEqual(try ConcatBatchNorm.sharedBlock(xs) != nil, c.fused, "channels \(c.channels)")
            for activation in [Activation.relu, nil] {
                let what = "channels \(c.channels) \(c.type) \(activation?.rawValue ?? "none")"
                let want = try BatchNorm2d(p, activation: activation).forward(Concat().forward(xs)).floats()
                let y = try ConcatBatchNorm(p, activation: activation).forward(xs)
                XCTAssertEqual(y.shape, [n, total, h, w], what)
                XCTAssertEqual(y.dataType, c.type, what)
                // bf16: within one rounding of oneDNN's (the last bit of 8, 2^-8 of the value).
                let got = try y.floats()
                for (a, b) in zip(got, want) {
                    XCTAssertLessThanOrEqual(abs(a - b), c.type == .bf16 ? max(abs(b), 1e-30) / 128 : 1e-5, what)
                }
                XCTAssertEqual(got.count, want.count, what)
                if activation == .relu { XCTAssertTrue(try y.floats().allSatisfy { $0 >= 0 }, what) }
            }
        }
        let p = try BatchNormParameters(weight: [1, 1], bias: [0, 0], runningMean: [0, 0], runningVar: [1, 1])
        XCTAssertThrowsError(try ConcatBatchNorm(p, activation: .silu), "only ReLU fuses")
        XCTAssertThrowsError(try ConcatBatchNorm(p, activation: nil).forward([try tensor([1, 3, 1, 1], [1, 2, 3], tag: dnnl_acdb)]), "3 channels for 2")
    }

    /// nn.AvgPool2d(k, s, p) (count_include_pad, floor mode): each window's sum over the input
    /// cells it covers divided by k * k.
    func averagePool(_ x: [Float], planes: Int, h: Int, w: Int, k: Int, s: Int, p: Int) -> (y: [Float], oh: Int, ow: Int) {
        let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
        var y = [Float](repeating: 0, count: planes * oh * ow)
        for q in 0..<planes { for i in 0..<oh { for j in 0..<ow {
            var sum: Double = 0
            for ky in 0..<k { for kx in 0..<k {
                let yy = i * s + ky - p, xx = j * s + kx - p
                if yy >= 0, yy < h, xx >= 0, xx < w { sum += Double(x[(q * h + yy) * w + xx]) }
            } }
            y[(q * oh + i) * ow + j] = Float(sum / Double(k * k))
        } } }
        return (y, oh, ow)
    }

    func averagePoolBackward(_ dy: [Float], planes: Int, h: Int, w: Int, k: Int, s: Int, p: Int) -> [Float] {
        let oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1
        var dx = [Double](repeating: 0, count: planes * h * w)
        for q in 0..<planes { for i in 0..<oh { for j in 0..<ow { for ky in 0..<k { for kx in 0..<k {
            let yy = i * s + ky - p, xx = j * s + kx - p
            if yy >= 0, yy < h, xx >= 0, xx < w { dx[(q * h + yy) * w + xx] += Double(dy[(q * oh + i) * ow + j]) / Double(k * k) }
        } } } } }
        return dx.map { Float($0) }
    }

    func testAveragePoolingCountsThePadding() throws {
        // Inception's 3x3 stride 1 padding 1, DenseNet's 2x2 stride 2 on odd sizes (floor), a 3x3
        // stride 2 padding 1.
        for (k, s, p, h, w) in [(3, 1, 1, 5, 6), (2, 2, 0, 7, 5), (3, 2, 1, 7, 7), (2, 2, 0, 2, 2)] {
            let (n, c) = (2, 12)
            let xv = NaiveReference.values(n * c * h * w, seed: UInt64(k * 100 + h))
            let want = averagePool(xv, planes: n * c, h: h, w: w, k: k, s: s, p: p)
            for tag in [dnnl_abcd, dnnl_aBcd8b, dnnl_aBcd16b, dnnl_acdb] {
                let what = "\(k)x\(k) stride \(s) padding \(p) on \(h)x\(w), tag \(tag.rawValue)"
                let x = try tensor([n, c, h, w], xv, tag: tag)
                let y = try AvgPool2d(kernel: k, stride: s, padding: p).forward(x)
                XCTAssertEqual(y.shape, [n, c, want.oh, want.ow], what)
                XCTAssertLessThanOrEqual(relativeError(try y.floats(), want.y), 1e-6, what)

                let pool = TrainPool2d(.average(kernel: k, stride: s, padding: p))
                XCTAssertLessThanOrEqual(relativeError(try pool.forward(x, pass: .training).floats(), want.y), 1e-6, "training " + what)
                let dyv = NaiveReference.values(n * c * want.oh * want.ow, seed: 7)
                let dx = try pool.backward(outputGrad: Tensor(shape: [n, c, want.oh, want.ow], values: dyv))
                XCTAssertEqual(dx.shape, [n, c, h, w], what)
                XCTAssertLessThanOrEqual(relativeError(try dx.floats(), averagePoolBackward(dyv, planes: n * c, h: h, w: w, k: k, s: s, p: p)),
                                         1e-6, "backward " + what)
            }
        }
        XCTAssertThrowsError(try AvgPool2d(kernel: 2, stride: 2, padding: 2), "padding over half the kernel")
        XCTAssertThrowsError(try AvgPool2d(kernel: 3, stride: 1).forward(Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])), "smaller than the kernel")
    }
}
