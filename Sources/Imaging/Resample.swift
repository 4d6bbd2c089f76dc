/// Pillow's antialiased bilinear and bicubic resampling (`Image.resize(size, Image.BILINEAR, box)`,
/// `Image.BICUBIC`), reproduced from libImaging/Resample.c so the output is bit-identical: coefficients in
/// double precision (`precompute_coeffs`), rounded to 22-bit fixed point
/// (`normalize_coeffs_8bpc`), two passes each clipped to 8 bits, in Pillow 13.0's order
/// (horizontal first, over only the rows the vertical pass needs, unless the height
/// shrinks by more than twice as much as the width); a pass is skipped when its size and
/// box leave that axis unchanged. The reference is pillow-13.0.0/src/libImaging/Resample.c.

/// Pillow's resampling filters (`struct filter` in Resample.c): the kernel and its support.
public enum ResampleFilter: String, Sendable, Codable, CaseIterable {
    /// `Image.BILINEAR`: the triangle, support 1.
    case bilinear
    /// `Image.BICUBIC`: Keys' cubic convolution with a = -0.5, support 2 (weights can be negative).
    case bicubic

    /// Half the kernel's width at scale 1 (`filter.support`).
    var support: Double {
        switch self {
        case .bilinear: return 1.0
        case .bicubic: return 2.0
        }
    }

    /// The kernel at `x` (`bilinear_filter`, `bicubic_filter`), in Pillow's evaluation order.
    @inline(__always)
    func weight(_ x: Double) -> Double {
        let x = x < 0.0 ? -x : x
        switch self {
        case .bilinear:
            return x < 1.0 ? 1.0 - x : 0.0
        case .bicubic:
            let a = -0.5
            if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
            if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0.0
        }
    }
}

public struct ResampleBox: Equatable, Sendable {
    public var left, top, right, bottom: Float
    public init(left: Float, top: Float, right: Float, bottom: Float) {
        self.left = left; self.top = top; self.right = right; self.bottom = bottom
    }
}

extension RGBImage {
    /// `Image.resize((width, height), Image.BILINEAR, box=box)` (`Image.BICUBIC` with
    /// `filter: .bicubic`); box defaults to the whole image.
    public func resized(width outW: Int, height outH: Int, box: ResampleBox? = nil,
                        filter: ResampleFilter = .bilinear) throws -> RGBImage {
        let box = box ?? ResampleBox(left: 0, top: 0, right: Float(width), bottom: Float(height))
        guard outW > 0, outH > 0 else {
            throw ImagingError.invalidArgument("resize: output size \(outW)x\(outH) must be at least 1x1")
        }
        guard box.left >= 0, box.top >= 0 else {
            throw ImagingError.invalidArgument("resize: box offset can't be negative (\(box))")
        }
        guard box.right <= Float(width), box.bottom <= Float(height) else {
            throw ImagingError.invalidArgument("resize: box \(box) exceeds the \(width)x\(height) image")
        }
        guard box.right - box.left >= 0, box.bottom - box.top >= 0, width > 0, height > 0 else {
            throw ImagingError.invalidArgument("resize: box \(box) is empty")
        }
        if outW == width && outH == height && box == ResampleBox(left: 0, top: 0, right: Float(width), bottom: Float(height)) {
            return self
        }
        let needHorizontal = outW != width || box.left != 0 || box.right != Float(outW)
        let needVertical = outH != height || box.top != 0 || box.bottom != Float(outH)
        // Pillow 13: when the height shrinks by more than twice as much as the width,
        // the vertical pass runs first (earlier Pillows always ran horizontal first).
        let horizontalFirst = !((height - outH) > 0 && (height - outH) > (width - outW) * 2)

        let vert = Coefficients(inSize: height, in0: box.top, in1: box.bottom, outSize: outH, filter: filter)
        var current = self
        if horizontalFirst {
            var rowOffset = 0  // source row of current's row 0
            if needHorizontal {
                // only the rows the vertical pass will read
                let yFirst = vert.bounds[0]
                let yLast = vert.bounds[2 * outH - 2] + vert.bounds[2 * outH - 1]
                let horiz = Coefficients(inSize: width, in0: box.left, in1: box.right, outSize: outW, filter: filter)
                current = horizontalPass(horiz, rows: yFirst..<yLast)
                rowOffset = yFirst
            }
            if needVertical {
                current = current.verticalPass(vert, rowOffset: rowOffset)
            }
        } else {
            if needVertical {
                current = current.verticalPass(vert, rowOffset: 0)
            }
            if needHorizontal {
                let horiz = Coefficients(inSize: width, in0: box.left, in1: box.right, outSize: outW, filter: filter)
                current = current.horizontalPass(horiz, rows: 0..<current.height)
            }
        }
        return current
    }

    private func horizontalPass(_ c: Coefficients, rows: Range<Int>) -> RGBImage {
        let outW = c.outSize, outH = rows.count
        var out = [UInt8](repeating: 0, count: outW * outH * 3)
        let inW = width
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                c.kk.withUnsafeBufferPointer { kk in
                    c.bounds.withUnsafeBufferPointer { bounds in
                        for yy in 0..<outH {
                            let rowBase = (yy + rows.lowerBound) * inW * 3
                            for xx in 0..<outW {
                                let xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1]
                                let k = xx * c.ksize
                                var s0 = 1 << 21, s1 = 1 << 21, s2 = 1 << 21
                                var p = rowBase + xmin * 3
                                for x in 0..<xmax {
                                    let w = kk[k + x]
                                    s0 += Int(src[p]) * w
                                    s1 += Int(src[p + 1]) * w
                                    s2 += Int(src[p + 2]) * w
                                    p += 3
                                }
                                let d = (yy * outW + xx) * 3
                                dst[d] = clip8(s0); dst[d + 1] = clip8(s1); dst[d + 2] = clip8(s2)
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: outW, outH, out)
    }

    private func verticalPass(_ c: Coefficients, rowOffset: Int) -> RGBImage {
        let outH = c.outSize, w = width
        var out = [UInt8](repeating: 0, count: w * outH * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                c.kk.withUnsafeBufferPointer { kk in
                    c.bounds.withUnsafeBufferPointer { bounds in
                        for yy in 0..<outH {
                            let ymin = bounds[2 * yy] - rowOffset, ymax = bounds[2 * yy + 1]
                            let k = yy * c.ksize
                            for xx in 0..<w {
                                var s0 = 1 << 21, s1 = 1 << 21, s2 = 1 << 21
                                var p = (ymin * w + xx) * 3
                                for y in 0..<ymax {
                                    let wt = kk[k + y]
                                    s0 += Int(src[p]) * wt
                                    s1 += Int(src[p + 1]) * wt
                                    s2 += Int(src[p + 2]) * wt
                                    p += w * 3
                                }
                                let d = (yy * w + xx) * 3
                                dst[d] = clip8(s0); dst[d + 1] = clip8(s1); dst[d + 2] = clip8(s2)
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: w, outH, out)
    }
}

/// Pillow's `clip8`: the 22-bit fixed-point sum shifted down and clamped to 0...255.
@inline(__always)
private func clip8(_ v: Int) -> UInt8 {
    let s = v >> 22
    return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` for one of Pillow's filters.
struct Coefficients {
    let outSize: Int
    let ksize: Int
    /// Per output pixel: first source index and number of taps.
    var bounds: [Int]
    /// Fixed-point weights, `ksize` per output pixel.
    var kk: [Int]

    init(inSize: Int, in0: Float, in1: Float, outSize: Int, filter: ResampleFilter = .bilinear) {
        self.outSize = outSize
        let scale = Double(in1 - in0) / Double(outSize)  // the subtraction is in float, as in C
        let filterscale = scale < 1.0 ? 1.0 : scale
        let support = filter.support * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        self.ksize = ksize
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var kk = [Int](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let ss = 1.0 / filterscale
            var xmin = Int(center - support + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            xmax = min(xmax, ksize)  // never more taps than the buffer holds (cannot happen for a box inside the image)
            for x in 0..<ksize { k[x] = 0 }
            for x in 0..<max(0, xmax) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<max(0, xmax) where ww != 0.0 { k[x] /= ww }
            for x in 0..<ksize {
                let scaled = k[x] * Double(1 << 22)
                kk[xx * ksize + x] = k[x] < 0 ? Int(-0.5 + scaled) : Int(0.5 + scaled)
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = max(0, xmax)
        }
        self.bounds = bounds
        self.kk = kk
    }
}
