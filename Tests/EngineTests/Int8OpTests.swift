@testable import Engine
import Random
import XCTest

/// `QuantizedConv2d` and `QuantizedLinear` (`--precision int8`) against references computed
/// here from the same integers and scales: the s32 accumulation exactly (integer arithmetic),
/// and the requantisation (`Int8Attributes`: scale, bias, residual, ReLU, round, saturate) to
/// the integer, allowing one step only where the reference itself is within 1e-3 of a rounding
/// tie (where the order of oneDNN's float operations may decide).
final class Int8OpTests: XCTestCase {
    /// Without VNNI oneDNN's int8 kernels may saturate 16-bit partial sums (vpmaddubsw), and
    /// `--precision int8` is refused there: these hold on VNNI/AMX CPUs.
    override func setUpWithError() throws {
        try XCTSkipUnless(CPUCapabilities.current.int8Fast, "int8 is refused on \(CPUCapabilities.current.isa)")
    }

    func integers(_ n: Int, in range: ClosedRange<Int>, seed: UInt64) -> [Int] {
        var r = SeededRandom(seed: seed)
        let span = Float(range.upperBound - range.lowerBound + 1)
        return (0..<n).map { _ in range.lowerBound + min(Int(r.rand() * span), range.upperBound - range.lowerBound) }
    }

    func tensor(_ values: [Int], shape: [Int], type: QuantizedType) throws -> Tensor {
        let t = try Tensor(desc: .plain(shape, quantized: type))
        t.withUnsafeMutableRawPointer { p in
            for (i, v) in values.enumerated() {
                if type == .u8 { p.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self) }
                else { p.storeBytes(of: Int8(v), toByteOffset: i, as: Int8.self) }
            }
        }
        return t
    }

    /// `k` x `kw` filters (3x3 unless said), padding `padding` x `paddingWidth` (the same unless said).
    struct Geometry { let n = 2, c = 8, h = 7, w = 7, o = 16, k = 3; let stride: Int; let padding: Int
        var kw = 3, paddingWidth: Int? = nil
        var pw: Int { paddingWidth ?? padding }
        var oh: Int { (h + 2 * padding - k) / stride + 1 }
        var ow: Int { (w + 2 * pw - kw) / stride + 1 }
    }

    /// The exact s32 sums of a conv of integers, NCHW.
    func accumulate(_ x: [Int], _ wt: [Int], _ g: Geometry) -> [Int] {
        var out = [Int](repeating: 0, count: g.n * g.o * g.oh * g.ow)
        for b in 0..<g.n { for oc in 0..<g.o { for y in 0..<g.oh { for xx in 0..<g.ow {
            var acc = 0
            for ic in 0..<g.c { for ky in 0..<g.k { for kx in 0..<g.kw {
                let iy = y * g.stride - g.padding + ky, ix = xx * g.stride - g.pw + kx
                guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
                acc += x[((b * g.c + ic) * g.h + iy) * g.w + ix] * wt[((oc * g.c + ic) * g.k + ky) * g.kw + kx]
            } } }
            out[((b * g.o + oc) * g.oh + y) * g.ow + xx] = acc
        } } } }
        return out
    }

    /// u8 x s8, scales 1, no bias, f32 out: oneDNN's output is the integer sum itself.
    func testConvAccumulatesExactly() throws {
        // And Inception's 3x7 with padding (1, 3) (a 3-high filter: the geometry's height is 3).
        for (stride, padding, source, kw, pw) in [(1, 1, QuantizedType.u8, 3, 1), (2, 0, .u8, 3, 0), (1, 1, .s8, 3, 1), (1, 1, .u8, 7, 3)] {
            let g = Geometry(stride: stride, padding: padding, kw: kw, paddingWidth: pw)
            let x = integers(g.n * g.c * g.h * g.w, in: source == .u8 ? 0...255 : -128...127, seed: 1)
            let wt = integers(g.o * g.c * g.k * g.kw, in: -127...127, seed: 2)
            let conv = try QuantizedConv2d(weights: wt.map { Int8($0) }, shape: [g.o, g.c, g.k, g.kw], bias: nil,
                                           outputScales: [Float](repeating: 1, count: g.o), stride: stride, padding: padding,
                                           paddingWidth: pw, sourceType: source, outputType: .f32)
            let y = try conv.forward(tensor(x, shape: [g.n, g.c, g.h, g.w], type: source)).floats()
            let expected = accumulate(x, wt, g)
            XCTAssertEqual(y.count, expected.count)
            XCTAssertEqual(y, expected.map { Float($0) }, "stride \(stride) \(source): \(conv.implementations)")
            print("int8 conv \(source) stride \(stride): \(conv.implementations)")
        }
    }

    /// Per-channel scales, bias, an s8 residual added in place and ReLU into u8: oneDNN's
    /// requantisation, step by step as `Int8Attributes` documents it.
    func testConvRequantisesWithResidualAndReLU() throws {
        let g = Geometry(stride: 1, padding: 1)
        let x = integers(g.n * g.c * g.h * g.w, in: 0...255, seed: 3)
        let wt = integers(g.o * g.c * g.k * g.k, in: -127...127, seed: 4)
        let r = integers(g.n * g.o * g.oh * g.ow, in: -128...127, seed: 5)
        var rng = SeededRandom(seed: 6)
        let scales = (0..<g.o).map { _ in Float(2e-3) * (1 + rng.rand()) }
        let bias = (0..<g.o).map { _ in 20_000 * (2 * rng.rand() - 1) }
        let sumScale: Float = 0.7
        let conv = try QuantizedConv2d(weights: wt.map { Int8($0) }, shape: [g.o, g.c, g.k, g.k], bias: bias, outputScales: scales,
                                       stride: 1, padding: 1, activation: .relu, sourceType: .u8, outputType: .u8,
                                       sum: (sumScale, .s8))
        let residual = try tensor(r, shape: [g.n, g.o, g.oh, g.ow], type: .s8)
        let y = try conv.forward(tensor(x, shape: [g.n, g.c, g.h, g.w], type: .u8), residual: residual, inPlace: false).floats()
        let acc = accumulate(x, wt, g)
        var exact = 0, ties = 0
        XCTAssertEqual(y.count, acc.count)
        for i in acc.indices {
            let c = (i / (g.oh * g.ow)) % g.o
            let pre = Double(scales[c]) * (Double(acc[i]) + Double(bias[c])) + Double(sumScale) * Double(r[i])
            let want = Double(QuantizedType.u8.saturate(Float(max(pre, 0))))
            if Double(y[i]) == want { exact += 1; continue }
            let nearTie = abs(pre - pre.rounded(.down) - 0.5) < 1e-3
            XCTAssertTrue(nearTie && abs(Double(y[i]) - want) == 1, "output \(i): \(y[i]) against \(want) (before rounding \(pre))")
            ties += 1
        }
        print("int8 conv requantised: \(exact) exact, \(ties) a rounding tie apart; \(conv.implementations)")
        XCTAssertGreaterThan(Set(y).count, 50, "outputs spread over the u8 range")
        XCTAssertTrue(y.contains(0) && y.contains(255), "ReLU and saturation both met")
    }

    /// ReLU6 into u8 with output scale `so`: the clip is at 6 real units, 6 / so output units
    /// (`activationUnit`), not at 6 units; hardswish, which has no such form, is refused unless
    /// the output is real (f32, unit 1).
    func testConvRequantisesWithReLU6InOutputUnits() throws {
        let g = Geometry(stride: 1, padding: 1)
        let x = integers(g.n * g.c * g.h * g.w, in: 0...255, seed: 13)
        let wt = integers(g.o * g.c * g.k * g.k, in: -127...127, seed: 14)
        var rng = SeededRandom(seed: 15)
        let real = (0..<g.o).map { _ in Float(2e-4) * (1 + rng.rand()) }   // source scale * weight scale
        let so: Float = 6.0 / 255                                              // the output's scale: 6 -> 255
        let conv = try QuantizedConv2d(weights: wt.map { Int8($0) }, shape: [g.o, g.c, g.k, g.k], bias: nil,
                                       outputScales: real.map { $0 / so }, stride: 1, padding: 1, activation: .relu6,
                                       activationUnit: so, sourceType: .u8, outputType: .u8)
        let y = try conv.forward(tensor(x, shape: [g.n, g.c, g.h, g.w], type: .u8)).floats()
        let acc = accumulate(x, wt, g)
        var exact = 0, clipped = 0
        for i in acc.indices {
            let c = (i / (g.oh * g.ow)) % g.o
            let value = Double(real[c]) * Double(acc[i])                      // real units
            let pre = min(max(value, 0), 6) / Double(so)
            let want = Double(QuantizedType.u8.saturate(Float(pre)))
            if value > 6 { clipped += 1 }
            if Double(y[i]) == want { exact += 1; continue }
            XCTAssertTrue(abs(pre - pre.rounded(.down) - 0.5) < 1e-3 && abs(Double(y[i]) - want) == 1,
                          "output \(i): \(y[i]) against \(want) (before rounding \(pre))")
        }
        print("int8 conv + relu6: \(exact) of \(acc.count) exact, \(clipped) clipped at 6")
        XCTAssertGreaterThan(clipped, 20, "values above 6 met")
        XCTAssertThrowsError(try QuantizedConv2d(weights: wt.map { Int8($0) }, shape: [g.o, g.c, g.k, g.k], bias: nil,
                                                 outputScales: real.map { $0 / so }, stride: 1, padding: 1, activation: .hardswish,
                                                 activationUnit: so, sourceType: .u8, outputType: .u8)
                             .forward(tensor(x, shape: [g.n, g.c, g.h, g.w], type: .u8)))
    }

    func testLinearAgainstIntegerReference() throws {
        let (n, i, o) = (3, 40, 7)
        let x = integers(n * i, in: 0...255, seed: 7), wt = integers(o * i, in: -127...127, seed: 8)
        var rng = SeededRandom(seed: 9)
        let scales = (0..<o).map { _ in Float(1e-3) * (1 + rng.rand()) }
        let bias = (0..<o).map { _ in 1000 * (2 * rng.rand() - 1) }
        let linear = try QuantizedLinear(weights: wt.map { Int8($0) }, outFeatures: o, inFeatures: i, bias: bias, outputScales: scales)
        let y = try linear.forward(tensor(x, shape: [n, i], type: .u8)).floats()
        XCTAssertEqual(y.count, n * o)
        for b in 0..<n {
            for f in 0..<o {
                let acc = (0..<i).reduce(0) { $0 + x[b * i + $1] * wt[f * i + $1] }
                let want = Float(scales[f]) * (Float(acc) + bias[f])
                XCTAssertEqual(y[b * o + f], want, accuracy: abs(want) * 1e-6, "[\(b), \(f)]")
            }
        }
        // Exactly the integer sums with scale 1 and no bias.
        let plain = try QuantizedLinear(weights: wt.map { Int8($0) }, outFeatures: o, inFeatures: i, bias: nil,
                                        outputScales: [Float](repeating: 1, count: o))
        let sums = try plain.forward(tensor(x, shape: [n, i], type: .u8)).floats()
        XCTAssertEqual(sums, (0..<(n * o)).map { k in Float((0..<i).reduce(0) { $0 + x[(k / o) * i + $1] * wt[(k % o) * i + $1] }) })
    }

    func testWeightQuantisationPerChannel() {
        let w: [Float] = [0.5, -1, 0.25, 0, 0, 0, 2, 1, -0.004]
        let q = QuantizedWeights(w, outChannels: 3)
        XCTAssertEqual(q.scales, [1 / 127, 1, 2 / 127])
        XCTAssertEqual(q.values, [64, -127, 32, 0, 0, 0, 127, 64, 0])   // 63.5 rounds to even: 64
    }

    func testRequantizeRoundsAndSaturates() throws {
        let x = try Tensor(shape: [1, 6], values: [-3, 0.26, 0.74, 1.25, 100, 0.75])
        XCTAssertEqual(try Requantize(scale: 2, to: .u8).forward(x).floats(), [0, 1, 1, 2, 200, 2])
        XCTAssertEqual(try Requantize(scale: 2, to: .s8).forward(x).floats(), [-6, 1, 1, 2, 127, 2])
    }
}
