/// EXIF orientation (tag 0x0112 in IFD0), read the way Pillow's `Image.getexif()` reads it,
/// and the transposition `ImageOps.exif_transpose` applies for each value.
public enum ExifOrientation: Int, Sendable {
    case up = 1, mirrored = 2, rotated180 = 3, flippedVertically = 4
    case transposed = 5, rotated270 = 6, transversed = 7, rotated90 = 8

    /// The orientation stored in an Exif payload (with or without the leading "Exif\0\0"),
    /// or nil when the payload holds none (or is malformed: every read is bounds-checked
    /// and a damaged payload means "no orientation", as Pillow's tolerant reader does).
    public static func parse(exif payload: [UInt8]) -> ExifOrientation? {
        tag(exif: payload).flatMap { $0 }
    }

    /// nil when IFD0 has no Orientation entry; .some(nil) when it has one whose value is
    /// not 1...8 (Pillow then transposes nothing and does not consult XMP either).
    static func tag(exif payload: [UInt8]) -> ExifOrientation?? {
        var base = 0
        let header: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
        if payload.count >= 6 && Array(payload[0..<6]) == header { base = 6 }
        let tiff = payload[base...]
        guard tiff.count >= 8 else { return nil }
        let s = tiff.startIndex
        let little: Bool
        if tiff[s] == 0x49 && tiff[s + 1] == 0x49 && tiff[s + 2] == 42 && tiff[s + 3] == 0 {
            little = true
        } else if tiff[s] == 0x4D && tiff[s + 1] == 0x4D && tiff[s + 2] == 0 && tiff[s + 3] == 42 {
            little = false
        } else {
            return nil
        }
        func u16(_ off: Int) -> Int? {
            guard off >= 0, off + 2 <= tiff.count else { return nil }
            let a = Int(tiff[s + off]), b = Int(tiff[s + off + 1])
            return little ? a | b << 8 : a << 8 | b
        }
        func u32(_ off: Int) -> Int? {
            guard let lo = u16(little ? off : off + 2), let hi = u16(little ? off + 2 : off) else { return nil }
            return hi << 16 | lo
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        // Byte sizes of the TIFF field types Pillow's IFD reader understands; entries of
        // other types are skipped as if absent, as are values pointing outside the payload.
        let unitSizes: [Int: Int] = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4,
                                     10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8]
        for i in 0..<count {
            let entry = ifd + 2 + 12 * i
            guard entry + 12 <= tiff.count, let tag = u16(entry), let type = u16(entry + 2),
                  let n = u32(entry + 4) else { return nil }  // Pillow stops reading here
            guard tag == 0x0112, let unit = unitSizes[type] else { continue }
            if n * unit > 4 {
                guard let offset = u32(entry + 8), offset + n * unit <= tiff.count else { continue }
            }
            // The first readable Orientation entry decides (Pillow keeps the first).
            guard n == 1 else { return .some(nil) }
            let value: Int?
            switch type {
            case 3: value = u16(entry + 8)                                   // SHORT
            case 4: value = u32(entry + 8)                                   // LONG
            case 8: value = u16(entry + 8).map { Int(Int16(truncatingIfNeeded: $0)) }  // SSHORT
            case 9: value = u32(entry + 8).map { Int(Int32(truncatingIfNeeded: $0)) }  // SLONG
            default: value = nil
            }
            return .some(value.flatMap { ExifOrientation(rawValue: $0) })
        }
        return nil
    }

    /// Pillow's fallback when EXIF holds no orientation: the first
    /// `tiff:Orientation="N"` or `tiff:Orientation>N` in the XMP packet.
    public static func parse(xmp: [UInt8]) -> ExifOrientation? {
        let key = Array("tiff:Orientation".utf8)
        guard xmp.count > key.count else { return nil }
        var i = 0
        while i + key.count <= xmp.count {
            if xmp[i] == key[0] && Array(xmp[i..<(i + key.count)]) == key {
                var j = i + key.count
                if j + 1 < xmp.count && xmp[j] == UInt8(ascii: "=") && xmp[j + 1] == UInt8(ascii: "\"") {
                    j += 2
                } else if j < xmp.count && xmp[j] == UInt8(ascii: ">") {
                    j += 1
                } else {
                    i += 1
                    continue
                }
                if j < xmp.count, xmp[j] >= UInt8(ascii: "0"), xmp[j] <= UInt8(ascii: "9") {
                    return ExifOrientation(rawValue: Int(xmp[j] - UInt8(ascii: "0")))
                }
            }
            i += 1
        }
        return nil
    }
}

extension RGBImage {
    /// The image turned upright for `orientation`, exactly as `ImageOps.exif_transpose`.
    public func applying(_ orientation: ExifOrientation) -> RGBImage {
        switch orientation {
        case .up: return self
        case .mirrored: return transposed { x, y, w, _ in (w - 1 - x, y) }
        case .rotated180: return transposed { x, y, w, h in (w - 1 - x, h - 1 - y) }
        case .flippedVertically: return transposed { x, y, _, h in (x, h - 1 - y) }
        // The closures map an output (x, y) to the source pixel; swapped sizes when rotated.
        case .transposed: return transposed(swap: true) { x, y, _, _ in (y, x) }
        case .rotated270: return transposed(swap: true) { x, y, _, h in (y, h - 1 - x) }
        case .transversed: return transposed(swap: true) { x, y, w, h in (w - 1 - y, h - 1 - x) }
        case .rotated90: return transposed(swap: true) { x, y, w, _ in (w - 1 - y, x) }
        }
    }

    /// A mirror image (left and right swapped): `RandomHorizontalFlip`'s flip.
    public func flippedHorizontally() -> RGBImage { applying(.mirrored) }

    /// Builds an image whose pixel (x, y) is the source pixel `source(x, y, srcW, srcH)`.
    private func transposed(swap: Bool = false,
                            _ source: (Int, Int, Int, Int) -> (Int, Int)) -> RGBImage {
        let ow = swap ? height : width, oh = swap ? width : height
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        let w = width, h = height
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        let (sx, sy) = source(x, y, w, h)
                        let si = (sy * w + sx) * 3, di = (y * ow + x) * 3
                        dst[di] = src[si]; dst[di + 1] = src[si + 1]; dst[di + 2] = src[si + 2]
                    }
                }
            }
        }
        return RGBImage(unchecked: ow, oh, out)
    }
}
