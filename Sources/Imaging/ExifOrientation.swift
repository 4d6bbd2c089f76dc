/// EXIF orientation (tag 0x0112 in IFD0), read the way Pillow's `Image.getexif()` reads it,
/// and the transposition `ImageOps.exif_transpose` applies for each value.
public enum ExifOrientation: Int, Sendable {
    case up = 1, mirrored = 2, rotated180 = 3, flippedVertically = 4
    case transposed = 5, rotated270 = 6, transversed = 7, rotated90 = 8

    /// The orientation stored in an Exif payload (with or without the leading "Exif\0\0"),
    /// or nil when the payload holds none, or none `exif_transpose` acts on. Every read is
    /// bounds-checked; see `ExifIFD0` for how Pillow's reader treats damage and odd types.
    public static func parse(exif payload: [UInt8]) -> ExifOrientation? {
        tag(exif: payload).flatMap { $0 }
    }

    /// nil when IFD0 has no Orientation entry; .some(nil) when it has one that selects no
    /// transposition, or when Pillow cannot read the payload at all (Pillow then transposes
    /// nothing and does not consult XMP either).
    static func tag(exif payload: [UInt8]) -> ExifOrientation?? {
        switch ExifIFD0.read(payload) {
        case .absent: return nil
        case .present(let orientation): return .some(orientation)
        case .unreadable: return .some(nil)
        }
    }

    /// What `Image.getexif()` reports: the EXIF Orientation entry when there is one (even
    /// an unusable one), otherwise the XMP packet's.
    static func resolve(exif: [UInt8]?, xmp: [UInt8]?) -> ExifOrientation? {
        if let exif, let tag = tag(exif: exif) { return tag }
        return xmp.flatMap { parse(xmp: $0) }
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
    /// The image turned upright for `orientation`, exactly as `ImageOps.exif_transpose`
    /// (Pillow's FLIP_LEFT_RIGHT, ROTATE_180, FLIP_TOP_BOTTOM, TRANSPOSE, ROTATE_270,
    /// TRANSVERSE and ROTATE_90 for values 2 to 8).
    public func applying(_ orientation: ExifOrientation) -> RGBImage {
        let w = width, h = height
        // Output pixel (x, y) is source pixel index start + x * dx + y * dy.
        let (swap, start, dx, dy): (Bool, Int, Int, Int)
        switch orientation {
        case .up: return self
        case .mirrored: (swap, start, dx, dy) = (false, w - 1, -1, w)
        case .rotated180: (swap, start, dx, dy) = (false, h * w - 1, -1, -w)
        case .flippedVertically: (swap, start, dx, dy) = (false, (h - 1) * w, 1, -w)
        case .transposed: (swap, start, dx, dy) = (true, 0, w, 1)
        case .rotated270: (swap, start, dx, dy) = (true, (h - 1) * w, -w, 1)      // 90 degrees clockwise
        case .transversed: (swap, start, dx, dy) = (true, h * w - 1, -w, -1)
        case .rotated90: (swap, start, dx, dy) = (true, w - 1, w, -1)             // 90 degrees counter-clockwise
        }
        let ow = swap ? h : w, oh = swap ? w : h
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        guard ow > 0 && oh > 0 else { return RGBImage(unchecked: ow, oh, out) }
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var d = 0
                for y in 0..<oh {
                    var s = start + y * dy
                    for _ in 0..<ow {
                        dst[d] = src[3 * s]; dst[d + 1] = src[3 * s + 1]; dst[d + 2] = src[3 * s + 2]
                        d += 3
                        s += dx
                    }
                }
            }
        }
        return RGBImage(unchecked: ow, oh, out)
    }

    /// A mirror image (left and right swapped): `RandomHorizontalFlip`'s flip.
    public func flippedHorizontally() -> RGBImage { applying(.mirrored) }
}
