import Foundation

/// torchvision's geometric functionals on PIL images with `InterpolationMode.NEAREST`, pixel for pixel:
/// the matrix torchvision (or PIL's `Image.rotate`) builds, in the same double arithmetic, then PIL's
/// `ImagingTransformAffine` (libImaging/Geometry.c) with its three engines: the scaling engine when
/// the matrix has no rotation or shear, 16.16 fixed point when the four corners map inside ±32768,
/// and doubles stepped by repeated addition otherwise.
public enum Geometry {
    /// torchvision's InterpolationMode for the PIL path: NEAREST (the transforms' and the policies'
    /// default) or BILINEAR (what torchvision's reference script passes to the policies).
    public enum Interpolation: String, Codable, Sendable, CaseIterable {
        case nearest, bilinear
    }

    /// torchvision.transforms.functional.affine on a PIL image, InterpolationMode.NEAREST; `center` nil is
    /// the image's centre `(width * 0.5, height * 0.5)`. AutoAugment, RandAugment and TrivialAugmentWide's
    /// `_apply_op` call it for ShearX/ShearY with `center: (0, 0)` and shear `degrees(atan(magnitude))`,
    /// and for TranslateX/TranslateY with the default centre and `translate` `int(magnitude)`.
    /// `fill` is one value for every channel or one per channel (torchvision's `_parse_fill`).
    public static func affine(_ image: RGBImage, angle: Double, translate: (Int, Int), scale: Double,
                              shear: (Double, Double), center: (Double, Double)? = nil,
                              fill: [UInt8] = [0, 0, 0], interpolation: Interpolation = .nearest) -> RGBImage {
        precondition(scale > 0, "affine: scale must be positive (torchvision raises), got \(scale)")
        let c = center ?? (Double(image.width) * 0.5, Double(image.height) * 0.5)
        let matrix = inverseAffineMatrix(center: c, angle: angle, translate: (Double(translate.0), Double(translate.1)),
                                         scale: scale, shear: shear)
        return transformed(image, matrix: matrix, fill: fill, interpolation: interpolation)
    }

    /// F.rotate on a PIL image: PIL's `Image.rotate(angle, NEAREST, expand=False, center=None,
    /// fillcolor=fill)`, counter-clockwise in degrees. Like PIL, an angle of 0, 180 (and 90 or 270 on a
    /// square image) modulo 360 is an exact transpose; any other builds PIL's matrix from `math.cos`
    /// and `math.sin` rounded to 15 decimals.
    public static func rotate(_ image: RGBImage, angle: Double, fill: [UInt8] = [0, 0, 0],
                              interpolation: Interpolation = .nearest) -> RGBImage {
        let a = pythonModulo(angle, 360.0)
        if a == 0 { return image }
        if a == 180 { return image.applying(ExifOrientation.rotated180) }
        if (a == 90 || a == 270) && image.width == image.height {
            return image.applying(a == 90 ? ExifOrientation.rotated90 : .rotated270)   // PIL's transpose: counter-clockwise 90 / 270
        }
        let t = -(a * degreesToRadians)
        var m = [roundedTo15Decimals(cos(t)), roundedTo15Decimals(sin(t)), 0.0,
                 roundedTo15Decimals(-sin(t)), roundedTo15Decimals(cos(t)), 0.0]
        let cx = Double(image.width) / 2, cy = Double(image.height) / 2
        // matrix[2], matrix[5] = transform(-cx - 0, -cy - 0, matrix); then += centre
        let (x, y) = (-cx, -cy)
        let m2 = m[0] * x + m[1] * y + m[2]
        let m5 = m[3] * x + m[4] * y + m[5]
        m[2] = m2 + cx
        m[5] = m5 + cy
        return transformed(image, matrix: m, fill: fill, interpolation: interpolation)
    }

    /// torchvision's `_get_inverse_affine_matrix(center, angle, translate, scale, shear)` (inverted),
    /// operation for operation: the output-to-input matrix PIL's `Image.transform(AFFINE)` takes.
    static func inverseAffineMatrix(center: (Double, Double), angle: Double, translate: (Double, Double),
                                    scale: Double, shear: (Double, Double)) -> [Double] {
        let rot = angle * degreesToRadians
        let sx = shear.0 * degreesToRadians
        let sy = shear.1 * degreesToRadians
        let (cx, cy) = center
        let (tx, ty) = translate
        let a = cos(rot - sy) / cos(sy)
        let b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot)
        let c = sin(rot - sy) / cos(sy)
        let d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot)
        var m = [d, -b, 0.0, -c, a, 0.0].map { $0 / scale }
        m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
        m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
        m[2] += cx
        m[5] += cy
        return m
    }

    /// PIL's `Image.transform(size, AFFINE, matrix, resample, fillcolor=fill)` to an image of the same
    /// size: output pixel (x, y) takes input pixel `matrix · (x + 0.5, y + 0.5)`, or `fill` outside.
    static func transformed(_ image: RGBImage, matrix a: [Double], fill: [UInt8],
                            interpolation: Interpolation = .nearest) -> RGBImage {
        precondition(a.count == 6, "affine matrix: 6 coefficients")
        precondition(fill.count == 1 || fill.count == 3,
                     "fill: one value or one per channel (3), got \(fill.count)")
        let colour = fill.count == 1 ? [fill[0], fill[0], fill[0]] : fill
        let w = image.width, h = image.height
        var out = [UInt8](repeating: colour[0], count: w * h * 3)
        if colour[1] != colour[0] || colour[2] != colour[0] {
            out.withUnsafeMutableBufferPointer { o in
                for i in stride(from: 0, to: o.count, by: 3) { o[i + 1] = colour[1]; o[i + 2] = colour[2] }
            }
        }
        guard w > 0, h > 0 else { return RGBImage(unchecked: w, h, out) }
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                func copy(_ x: Int, _ y: Int, from xin: Int, _ yin: Int) {
                    let d = (y * w + x) * 3, s = (yin * w + xin) * 3
                    dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                }
                if interpolation == .bilinear {
                    bilinear(src, w, h, a, into: dst)
                } else if a[1] == 0 && a[3] == 0 {
                    // ImagingScaleAffine: positions stepped by addition from the first pixel's centre
                    var xintab = [Int](repeating: -1, count: w)
                    var xo = a[2] + a[0] * 0.5
                    var yo = a[5] + a[4] * 0.5
                    for x in 0..<w {
                        let xin = coord(xo)
                        if xin >= 0 && xin < w { xintab[x] = xin }
                        xo += a[0]
                    }
                    for y in 0..<h {
                        let yin = coord(yo)
                        if yin >= 0 && yin < h {
                            for x in 0..<w where xintab[x] >= 0 { copy(x, y, from: xintab[x], yin) }
                        }
                        yo += a[4]
                    }
                } else if fitsFixedPoint(a, 0, 0) && fitsFixedPoint(a, w, h)
                            && fitsFixedPoint(a, 0, h) && fitsFixedPoint(a, w, 0) {
                    // affine_fixed: 16.16 fixed point, int32 arithmetic
                    let a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4])
                    var rowX = fix(a[2] + a[0] * 0.5 + a[1] * 0.5)
                    var rowY = fix(a[5] + a[3] * 0.5 + a[4] * 0.5)
                    for y in 0..<h {
                        var xx = rowX, yy = rowY
                        for x in 0..<w {
                            let xin = Int(xx >> 16)
                            if xin >= 0 && xin < w {
                                let yin = Int(yy >> 16)
                                if yin >= 0 && yin < h { copy(x, y, from: xin, yin) }
                            }
                            xx &+= a0
                            yy &+= a3
                        }
                        rowX &+= a1
                        rowY &+= a4
                    }
                } else {
                    // the floating-point engine (corners beyond fixed point's range)
                    var xo = a[2] + a[1] * 0.5 + a[0] * 0.5
                    var yo = a[5] + a[4] * 0.5 + a[3] * 0.5
                    for y in 0..<h {
                        var xx = xo, yy = yo
                        for x in 0..<w {
                            let xin = coord(xx)
                            if xin >= 0 && xin < w {
                                let yin = coord(yy)
                                if yin >= 0 && yin < h { copy(x, y, from: xin, yin) }
                            }
                            xx += a[0]
                            yy += a[3]
                        }
                        xo += a[1]
                        yo += a[4]
                    }
                }
            }
        }
        return RGBImage(unchecked: w, h, out)
    }

    /// ImagingGenericTransform with affine_transform and bilinear_filter32RGB: each output pixel's
    /// centre mapped in doubles, left as it is (fill) unless it lands inside the image, then the 2x2
    /// neighbourhood around it minus half a pixel, edges clamped, blended in doubles per channel and
    /// truncated to 8 bits.
    private static func bilinear(_ src: UnsafeBufferPointer<UInt8>, _ w: Int, _ h: Int, _ a: [Double],
                                 into dst: UnsafeMutableBufferPointer<UInt8>) {
        let (fw, fh) = (Double(w), Double(h))
        for y in 0..<h {
            for x in 0..<w {
                let xin = Double(x) + 0.5, yin = Double(y) + 0.5
                var xx = a[0] * xin + a[1] * yin + a[2]
                var yy = a[3] * xin + a[4] * yin + a[5]
                guard xx >= 0 && xx < fw && yy >= 0 && yy < fh else { continue }
                xx -= 0.5
                yy -= 0.5
                let xi = Int(floor(xx)), yi = Int(floor(yy))
                let dx = xx - Double(xi), dy = yy - Double(yi)
                let x0 = min(max(xi, 0), w - 1) * 3, x1 = min(max(xi + 1, 0), w - 1) * 3
                let row0 = min(max(yi, 0), h - 1) * w * 3
                let hasRow1 = yi + 1 >= 0 && yi + 1 < h
                let row1 = (yi + 1) * w * 3
                let d = (y * w + x) * 3
                for b in 0..<3 {
                    let p0 = Double(src[row0 + x0 + b])
                    var v1 = p0 + (Double(src[row0 + x1 + b]) - p0) * dx
                    var v2 = v1
                    if hasRow1 {
                        let q0 = Double(src[row1 + x0 + b])
                        v2 = q0 + (Double(src[row1 + x1 + b]) - q0) * dx
                    }
                    v1 = v1 + (v2 - v1) * dy
                    dst[d + b] = UInt8(clamping: Int(v1))
                }
            }
        }
    }

    /// CPython's `math.radians` factor, `pi / 180.0`.
    static let degreesToRadians = Double.pi / 180.0

    /// Python's `round(x, 15)`: the decimal rounding of x's exact value (ties to even), read back.
    static func roundedTo15Decimals(_ x: Double) -> Double {
        guard x.isFinite else { return x }
        var buffer = [CChar](repeating: 0, count: 64)
        let n = withVaList([x]) { vsnprintf(&buffer, buffer.count, "%.15f", $0) }
        precondition(n > 0 && n < buffer.count)
        return strtod(buffer, nil)
    }

    /// Python's float `%`: the result takes the divisor's sign.
    static func pythonModulo(_ x: Double, _ m: Double) -> Double {
        let r = fmod(x, m)
        if r == 0 { return Double(sign: m.sign, exponent: 0, significand: 0) }
        return (r < 0) != (m < 0) ? r + m : r
    }

    /// Geometry.c's COORD: -1 below zero, else C's truncation (out of int range: invalid).
    private static func coord(_ v: Double) -> Int {
        guard v >= 0 else { return -1 }
        return v < 2147483648.0 ? Int(v) : -1
    }

    /// Geometry.c's FIX: FLOOR(v * 65536 + 0.5) as a C int (x86's conversion gives INT_MIN out of range).
    private static func fix(_ v: Double) -> Int32 {
        let t = v * 65536.0 + 0.5
        let f = t < 0 ? floor(t) : t.rounded(.towardZero)
        return f >= -2147483648.0 && f < 2147483648.0 ? Int32(f) : Int32.min
    }

    private static func fitsFixedPoint(_ a: [Double], _ x: Int, _ y: Int) -> Bool {
        let (x, y) = (Double(x), Double(y))
        return abs(x * a[0] + y * a[1] + a[2]) < 32768.0 && abs(x * a[3] + y * a[4] + a[5]) < 32768.0
    }
}

extension Geometry {
    /// CPython's `math.degrees`: `x * (180.0 / pi)`.
    public static func degrees(_ radians: Double) -> Double { radians * (180.0 / Double.pi) }

    /// AutoAugment/RandAugment/TrivialAugmentWide's `_apply_op(img, "ShearX", magnitude, NEAREST, fill)`:
    /// `affine(angle 0, translate [0, 0], scale 1, shear [degrees(atan(magnitude)), 0], center [0, 0])`.
    public static func shearX(_ image: RGBImage, magnitude: Double, fill: [UInt8] = [0, 0, 0],
                              interpolation: Interpolation = .nearest) -> RGBImage {
        affine(image, angle: 0, translate: (0, 0), scale: 1, shear: (degrees(atan(magnitude)), 0),
               center: (0, 0), fill: fill, interpolation: interpolation)
    }

    /// `_apply_op(img, "ShearY", magnitude, NEAREST, fill)`: shear [0, degrees(atan(magnitude))], center [0, 0].
    public static func shearY(_ image: RGBImage, magnitude: Double, fill: [UInt8] = [0, 0, 0],
                              interpolation: Interpolation = .nearest) -> RGBImage {
        affine(image, angle: 0, translate: (0, 0), scale: 1, shear: (0, degrees(atan(magnitude))),
               center: (0, 0), fill: fill, interpolation: interpolation)
    }

    /// `_apply_op(img, "TranslateX", magnitude, NEAREST, fill)`: translate [int(magnitude), 0] (truncated
    /// toward zero), the image's centre.
    public static func translateX(_ image: RGBImage, magnitude: Double, fill: [UInt8] = [0, 0, 0],
                              interpolation: Interpolation = .nearest) -> RGBImage {
        affine(image, angle: 0, translate: (Int(magnitude), 0), scale: 1, shear: (0, 0), fill: fill, interpolation: interpolation)
    }

    /// `_apply_op(img, "TranslateY", magnitude, NEAREST, fill)`: translate [0, int(magnitude)].
    public static func translateY(_ image: RGBImage, magnitude: Double, fill: [UInt8] = [0, 0, 0],
                              interpolation: Interpolation = .nearest) -> RGBImage {
        affine(image, angle: 0, translate: (0, Int(magnitude)), scale: 1, shear: (0, 0), fill: fill, interpolation: interpolation)
    }
}
