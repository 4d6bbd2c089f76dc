import Random

/// Naive float64 definitions of the ops (PyTorch's), forward and backward, that the engine's
/// ops are tested against. Arrays are plain row-major (NCHW, `[out, in/groups, kh, kw]`).
enum NaiveReference {
    static func values(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var r = SeededRandom(seed: seed)
        return (0..<n).map { _ in scale * (2 * r.rand() - 1) }
    }

    struct ConvGeometry {
        let n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, stride: Int, padding: Int
        /// The left and right padding where it is not `padding`'s.
        var paddingWidth: Int? = nil
        var pw: Int { paddingWidth ?? padding }
        var oh: Int { (h + 2 * padding - kh) / stride + 1 }
        var ow: Int { (w + 2 * pw - kw) / stride + 1 }
        var outShape: [Int] { [n, o, oh, ow] }
    }

    /// conv2d (groups 1) + bias.
    static func conv(_ x: [Float], _ wt: [Float], bias: [Float]?, _ g: ConvGeometry) -> [Double] {
        var out = [Double](repeating: 0, count: g.n * g.o * g.oh * g.ow)
        for b in 0..<g.n { for oc in 0..<g.o { for y in 0..<g.oh { for xx in 0..<g.ow {
            var acc = Double(bias?[oc] ?? 0)
            for ic in 0..<g.c { for ky in 0..<g.kh { for kx in 0..<g.kw {
                let iy = y * g.stride - g.padding + ky, ix = xx * g.stride - g.pw + kx
                guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
                acc += Double(x[((b * g.c + ic) * g.h + iy) * g.w + ix]) * Double(wt[((oc * g.c + ic) * g.kh + ky) * g.kw + kx])
            } } }
            out[((b * g.o + oc) * g.oh + y) * g.ow + xx] = acc
        } } } }
        return out
    }

    /// The input, weight and bias gradients of `conv` for the output gradient `dz`.
    static func convBackward(_ x: [Float], _ wt: [Float], _ dz: [Double], _ g: ConvGeometry) -> (dx: [Double], dw: [Double], db: [Double]) {
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: wt.count)
        var db = [Double](repeating: 0, count: g.o)
        for b in 0..<g.n { for oc in 0..<g.o { for y in 0..<g.oh { for xx in 0..<g.ow {
            let d = dz[((b * g.o + oc) * g.oh + y) * g.ow + xx]
            db[oc] += d
            for ic in 0..<g.c { for ky in 0..<g.kh { for kx in 0..<g.kw {
                let iy = y * g.stride - g.padding + ky, ix = xx * g.stride - g.pw + kx
                guard iy >= 0, iy < g.h, ix >= 0, ix < g.w else { continue }
                let xi = ((b * g.c + ic) * g.h + iy) * g.w + ix, wi = ((oc * g.c + ic) * g.kh + ky) * g.kw + kx
                dx[xi] += d * Double(wt[wi])
                dw[wi] += d * Double(x[xi])
            } } }
        } } } }
        return (dx, dw, db)
    }

    /// `y = relu(z)` and the gradient at `z` for `dy`.
    static func relu(_ z: [Double]) -> [Double] { z.map { max($0, 0) } }
    static func reluBackward(_ y: [Double], _ dy: [Double]) -> [Double] { zip(y, dy).map { $0 > 0 ? $1 : 0 } }

    /// `x W^T + b`, `x` `[n, in]`, `W` `[out, in]`.
    static func linear(_ x: [Float], _ wt: [Float], _ b: [Float]?, n: Int, in k: Int, out o: Int) -> [Double] {
        (0..<(n * o)).map { i in
            let (r, c) = (i / o, i % o)
            return (0..<k).reduce(Double(b?[c] ?? 0)) { $0 + Double(x[r * k + $1]) * Double(wt[c * k + $1]) }
        }
    }

    static func linearBackward(_ x: [Float], _ wt: [Float], _ dz: [Double], n: Int, in k: Int, out o: Int)
        -> (dx: [Double], dw: [Double], db: [Double]) {
        var dx = [Double](repeating: 0, count: n * k), dw = [Double](repeating: 0, count: o * k), db = [Double](repeating: 0, count: o)
        for r in 0..<n { for c in 0..<o {
            let d = dz[r * o + c]
            db[c] += d
            for j in 0..<k { dx[r * k + j] += d * Double(wt[c * k + j]); dw[c * k + j] += d * Double(x[r * k + j]) }
        } }
        return (dx, dw, db)
    }

    /// Training batch norm: output, batch mean, biased and unbiased variance per channel.
    static func batchNorm(_ x: [Float], n: Int, c: Int, hw: Int, weight: [Float], bias: [Float], eps: Double)
        -> (y: [Double], mean: [Double], biasedVar: [Double], unbiasedVar: [Double]) {
        var y = [Double](repeating: 0, count: x.count)
        var means = [Double](), vars = [Double](), uvars = [Double]()
        let m = Double(n * hw)
        for ch in 0..<c {
            var s = 0.0
            for b in 0..<n { for i in 0..<hw { s += Double(x[(b * c + ch) * hw + i]) } }
            let mean = s / m
            var q = 0.0
            for b in 0..<n { for i in 0..<hw { let d = Double(x[(b * c + ch) * hw + i]) - mean; q += d * d } }
            let v = q / m
            means.append(mean); vars.append(v); uvars.append(q / (m - 1))
            let istd = 1 / (v + eps).squareRoot()
            for b in 0..<n { for i in 0..<hw {
                let k = (b * c + ch) * hw + i
                y[k] = (Double(x[k]) - mean) * istd * Double(weight[ch]) + Double(bias[ch])
            } }
        }
        return (y, means, vars, uvars)
    }

    /// Its gradients (batch statistics) for the gradient `dy` at the normalised output.
    static func batchNormBackward(_ x: [Float], _ dy: [Double], n: Int, c: Int, hw: Int, weight: [Float], eps: Double)
        -> (dx: [Double], dw: [Double], db: [Double]) {
        let (_, mean, v, _) = batchNorm(x, n: n, c: c, hw: hw, weight: weight, bias: [Float](repeating: 0, count: c), eps: eps)
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: c), db = [Double](repeating: 0, count: c)
        let m = Double(n * hw)
        for ch in 0..<c {
            let istd = 1 / (v[ch] + eps).squareRoot()
            var sdy = 0.0, sdyx = 0.0
            for b in 0..<n { for i in 0..<hw {
                let k = (b * c + ch) * hw + i
                let xhat = (Double(x[k]) - mean[ch]) * istd
                sdy += dy[k]; sdyx += dy[k] * xhat
            } }
            dw[ch] = sdyx; db[ch] = sdy
            for b in 0..<n { for i in 0..<hw {
                let k = (b * c + ch) * hw + i
                let xhat = (Double(x[k]) - mean[ch]) * istd
                dx[k] = Double(weight[ch]) * istd * (dy[k] - sdy / m - xhat * sdyx / m)
            } }
        }
        return (dx, dw, db)
    }

    /// torch's adaptive average pooling and its backward.
    static func adaptiveAverage(_ x: [Float], planes: Int, h: Int, w: Int, oh: Int, ow: Int) -> [Double] {
        var out = [Double]()
        for p in 0..<planes { for i in 0..<oh { for j in 0..<ow {
            let y0 = Int((Double(i * h) / Double(oh)).rounded(.down)), y1 = Int((Double((i + 1) * h) / Double(oh)).rounded(.up))
            let x0 = Int((Double(j * w) / Double(ow)).rounded(.down)), x1 = Int((Double((j + 1) * w) / Double(ow)).rounded(.up))
            var s = 0.0
            for yy in y0..<y1 { for xx in x0..<x1 { s += Double(x[(p * h + yy) * w + xx]) } }
            out.append(s / Double((y1 - y0) * (x1 - x0)))
        } } }
        return out
    }

    static func adaptiveAverageBackward(_ dy: [Float], planes: Int, h: Int, w: Int, oh: Int, ow: Int) -> [Double] {
        var dx = [Double](repeating: 0, count: planes * h * w)
        for p in 0..<planes { for i in 0..<oh { for j in 0..<ow {
            let y0 = Int((Double(i * h) / Double(oh)).rounded(.down)), y1 = Int((Double((i + 1) * h) / Double(oh)).rounded(.up))
            let x0 = Int((Double(j * w) / Double(ow)).rounded(.down)), x1 = Int((Double((j + 1) * w) / Double(ow)).rounded(.up))
            let d = Double(dy[(p * oh + i) * ow + j]) / Double((y1 - y0) * (x1 - x0))
            for yy in y0..<y1 { for xx in x0..<x1 { dx[(p * h + yy) * w + xx] += d } }
        } } }
        return dx
    }
}

extension Array where Element == Double {
    var floats: [Float] { map { Float($0) } }
}
