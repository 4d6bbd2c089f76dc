import Foundation

// torchvision's colour operations on PIL images (`F.adjust_brightness`, `adjust_contrast`,
// `adjust_saturation`, `adjust_sharpness`, `adjust_hue`, `posterize`, `solarize`,
// `autocontrast`, `equalize`, `invert`), with PIL's integer and float arithmetic:
// ImageEnhance blends with a degenerate image (libImaging/Blend.c), ImageOps builds a
// lookup table per band, adjust_hue goes through PIL's HSV (libImaging/Convert.c).
extension RGBImage {
    /// PIL's RGB -> L: `(19595 R + 38470 G + 7471 B + 0x8000) >> 16` (Convert.c, L24).
    public func luma() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { out in
            for i in out.indices {
                let r = Int(p[3 * i]), g = Int(p[3 * i + 1]), b = Int(p[3 * i + 2])
                out[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
            }
            }
        }
        return out
    }

    /// `Image.blend(degenerate, self, factor)`: Blend.c with a float32 alpha, truncating,
    /// clipped only when extrapolating.
    func blended(from degenerate: RGBImage, factor: Double) -> RGBImage {
        let alpha = Float(factor)              // PyArg "f"
        if alpha == 0 { return degenerate }
        if alpha == 1 { return self }
        var out = pixels
        let interpolate = alpha >= 0 && alpha <= 1
        degenerate.pixels.withUnsafeBufferPointer { d in
            pixels.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { out in
                for i in out.indices {
                    let a = Int32(d[i])
                    let value = Float(a) + alpha * Float(Int32(s[i]) - a)
                    if interpolate {
                        out[i] = UInt8(value)
                    } else {
                        out[i] = value <= 0 ? 0 : value >= 255 ? 255 : UInt8(value)
                    }
                }
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// `F.adjust_brightness` (ImageEnhance.Brightness): blend with black.
    public func adjustingBrightness(_ factor: Double) -> RGBImage {
        blended(from: RGBImage(width: width, height: height), factor: factor)
    }

    /// `F.adjust_saturation` (ImageEnhance.Color): blend with the L conversion.
    public func adjustingSaturation(_ factor: Double) -> RGBImage {
        blended(from: RGBImage(grey: luma(), width: width, height: height), factor: factor)
    }

    /// `F.adjust_contrast` (ImageEnhance.Contrast): blend with a flat image of the L
    /// conversion's mean, `int(mean + 0.5)`.
    public func adjustingContrast(_ factor: Double) -> RGBImage {
        let l = luma()
        var sum = 0
        for v in l { sum += Int(v) }
        let mean = l.isEmpty ? 0 : Int(Double(sum) / Double(l.count) + 0.5)
        let flat = [UInt8](repeating: UInt8(clamping: mean), count: l.count)
        return blended(from: RGBImage(grey: flat, width: width, height: height), factor: factor)
    }

    /// `F.adjust_sharpness` (ImageEnhance.Sharpness): blend with PIL's SMOOTH filter.
    public func adjustingSharpness(_ factor: Double) -> RGBImage {
        blended(from: smoothed(), factor: factor)
    }

    /// PIL's `ImageFilter.SMOOTH` (3x3, 1 1 1 / 1 5 1 / 1 1 1, scale 13) as Filter.c computes
    /// it: float32 kernel k/13, rows summed bottom to top from 0.5, truncated; the border
    /// pixels are copied, and an image smaller than 3x3 is returned unchanged.
    public func smoothed() -> RGBImage {
        guard width >= 3, height >= 3 else { return self }
        let one = Float(1) / Float(13), five = Float(5) / Float(13)
        let kernel: [Float] = [one, one, one, one, five, one, one, one, one]
        var out = pixels
        let stride = width * 3
        pixels.withUnsafeBufferPointer { p in
            func row3(_ y: Int, _ x: Int, _ c: Int, _ k: Int) -> Float {
                let base = y * stride + c
                return Float(p[base + (x - 1) * 3]) * kernel[k] + Float(p[base + x * 3]) * kernel[k + 1]
                    + Float(p[base + (x + 1) * 3]) * kernel[k + 2]
            }
            for y in 1..<(height - 1) {
                for x in 1..<(width - 1) {
                    for c in 0..<3 {
                        var ss: Float = 0.5
                        ss += row3(y + 1, x, c, 0)
                        ss += row3(y, x, c, 3)
                        ss += row3(y - 1, x, c, 6)
                        ss = ss < 0 ? 0 : ss
                        ss = ss > 255 ? 255 : ss
                        out[y * stride + x * 3 + c] = UInt8(ss)
                    }
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// The same lookup table applied to every band (`image.point(lut)`).
    func mapped(_ lut: [UInt8]) -> RGBImage {
        mapped(bands: [lut, lut, lut])
    }

    /// `F.posterize` (ImageOps.posterize): keeps the top `bits` bits (1...8).
    public func posterized(bits: Int) -> RGBImage {
        let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - min(8, max(1, bits)))) - 1))
        return mapped((0..<256).map { UInt8($0) & mask })
    }

    /// `F.solarize` (ImageOps.solarize): values at or above `threshold` are inverted.
    public func solarized(threshold: Double) -> RGBImage {
        mapped((0..<256).map { Double($0) < threshold ? UInt8($0) : UInt8(255 - $0) })
    }

    /// `F.invert` (ImageOps.invert).
    public func inverted() -> RGBImage {
        mapped((0..<256).map { UInt8(255 - $0) })
    }

    /// The 256-bin histogram of each band.
    func bandHistograms() -> [[Int]] {
        var h = [Int](repeating: 0, count: 768)
        pixels.withUnsafeBufferPointer { p in
            var i = 0
            while i + 2 < p.count {
                h[Int(p[i])] += 1; h[256 + Int(p[i + 1])] += 1; h[512 + Int(p[i + 2])] += 1
                i += 3
            }
        }
        return [Array(h[0..<256]), Array(h[256..<512]), Array(h[512..<768])]
    }

    /// One lookup table per band (`image.point(lut)` with 768 entries).
    func mapped(bands luts: [[UInt8]]) -> RGBImage {
        var out = pixels
        let (r, g, b) = (luts[0], luts[1], luts[2])
        out.withUnsafeMutableBufferPointer { o in
            var i = 0
            while i + 2 < o.count {
                o[i] = r[Int(o[i])]; o[i + 1] = g[Int(o[i + 1])]; o[i + 2] = b[Int(o[i + 2])]
                i += 3
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// `F.autocontrast` (ImageOps.autocontrast, cutoff 0): each band stretched so its
    /// darkest value becomes 0 and its lightest 255, `int(ix * scale + offset)` in double.
    public func autocontrasted() -> RGBImage {
        let luts = bandHistograms().map { h -> [UInt8] in
            guard let lo = h.firstIndex(where: { $0 != 0 }), let hi = h.lastIndex(where: { $0 != 0 }), hi > lo else {
                return (0..<256).map { UInt8($0) }
            }
            let scale = 255.0 / Double(hi - lo)
            let offset = -Double(lo) * scale
            return (0..<256).map { ix in UInt8(min(255, max(0, Int(Double(ix) * scale + offset)))) }
        }
        return mapped(bands: luts)
    }

    /// `F.equalize` (ImageOps.equalize): each band's cumulative histogram in integer steps.
    public func equalized() -> RGBImage {
        let luts = bandHistograms().map { h -> [UInt8] in
            let present = h.filter { $0 != 0 }
            let identity = (0..<256).map { UInt8($0) }
            guard present.count > 1 else { return identity }
            let step = (present.reduce(0, +) - present[present.count - 1]) / 255
            guard step != 0 else { return identity }
            var n = step / 2
            var lut = [UInt8](repeating: 0, count: 256)
            for i in 0..<256 {
                lut[i] = UInt8(min(255, n / step))   // the brightest levels pass 255; PIL's point() clips them
                n += h[i]
            }
            return lut
        }
        return mapped(bands: luts)
    }

    /// `F.adjust_hue` on a PIL image: RGB -> HSV (Convert.c), the hue byte shifted by
    /// `uint8(int32(hue_factor * 255))` with numpy's wrap-around, HSV -> RGB. `hueFactor`
    /// must be in [-0.5, 0.5].
    public func adjustingHue(_ hueFactor: Double) -> RGBImage {
        let shift = UInt8(truncatingIfNeeded: Int32(hueFactor * 255))
        var out = pixels
        out.withUnsafeMutableBufferPointer { o in
            for i in stride(from: 0, to: o.count - 2, by: 3) {
                var hsv = RGBImage.hsv(o[i], o[i + 1], o[i + 2])
                hsv.0 &+= shift
                let rgb = RGBImage.rgb(hsv.0, hsv.1, hsv.2)
                o[i] = rgb.0; o[i + 1] = rgb.1; o[i + 2] = rgb.2
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// Convert.c's rgb2hsv_row, with C's float/double promotions.
    static func hsv(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        guard minc != maxc else { return (0, 0, maxc) }
        let cr = Float(Int(maxc) - Int(minc))
        let s = cr / Float(maxc)
        let rc = Float(Int(maxc) - Int(r)) / cr
        let gc = Float(Int(maxc) - Int(g)) / cr
        let bc = Float(Int(maxc) - Int(b)) / cr
        var h: Float
        if r == maxc {
            h = bc - gc
        } else if g == maxc {
            h = Float(2.0 + Double(rc) - Double(bc))
        } else {
            h = Float(4.0 + Double(gc) - Double(rc))
        }
        h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
        let uh = UInt8(clamping: Int(Double(h) * 255.0))
        let us = UInt8(clamping: Int(Double(s) * 255.0))
        return (uh, us, maxc)
    }

    /// Convert.c's hsv2rgb, with C's float/double promotions and `round` (half away from zero).
    static func rgb(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        guard s != 0 else { return (v, v, v) }
        let i = Int(floor(Double(Float(h)) * 6.0 / 255.0))
        let f = Float(Double(Float(h)) * 6.0 / 255.0 - Double(Float(i)))
        let fs = Float(Double(Float(s)) / 255.0)
        let vd = Double(Float(v))
        let p = Int((vd * (1.0 - Double(fs))).rounded(.toNearestOrAwayFromZero))
        let q = Int((vd * (1.0 - Double(fs * f))).rounded(.toNearestOrAwayFromZero))
        let t = Int((vd * (1.0 - Double(fs) * (1.0 - Double(f)))).rounded(.toNearestOrAwayFromZero))
        let up = UInt8(clamping: p), uq = UInt8(clamping: q), ut = UInt8(clamping: t)
        switch i % 6 {
        case 0: return (v, ut, up)
        case 1: return (uq, v, up)
        case 2: return (up, v, ut)
        case 3: return (up, uq, v)
        case 4: return (ut, up, v)
        default: return (v, up, uq)
        }
    }

    /// A grey RGB image from L values (PIL's L -> RGB).
    init(grey: [UInt8], width: Int, height: Int) {
        var out = [UInt8](repeating: 0, count: grey.count * 3)
        for (i, v) in grey.enumerated() { out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v }
        self.init(unchecked: width, height, out)
    }
}
