/// The Orientation entry of an Exif payload's first IFD, read step for step as Pillow 13's
/// `Image.Exif.load` (via `TiffImagePlugin.ImageFileDirectory_v2`) reads it, and the value
/// `ImageOps.exif_transpose` then looks up among 2...8 (1, upright, changes nothing).
enum ExifIFD0 {
    /// What `Image.getexif()` makes of a payload.
    enum Reading: Equatable {
        /// No Orientation entry (then Pillow consults XMP).
        case absent
        /// An Orientation entry; the transposition its value selects, nil when none does
        /// (a value outside 2...8, a string, bytes, a fraction that is not whole...).
        case present(ExifOrientation?)
        /// Pillow raises while reading the payload (a header that is not TIFF's, a BigTIFF
        /// header, fewer than 8 bytes): no orientation, and no XMP either.
        case unreadable
    }

    /// Reads a payload with or without its leading "Exif\0\0" (Pillow strips one or two).
    static func read(_ payload: [UInt8]) -> Reading {
        let header: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
        var base = 0
        for _ in 0..<2 where payload.count >= base + 6 && Array(payload[base..<(base + 6)]) == header {
            base += 6
        }
        let tiff = Array(payload[base...])
        if tiff.isEmpty { return .absent }
        guard tiff.count >= 4 else { return .unreadable }
        let magic = Array(tiff[0..<4])
        let prefixes: [[UInt8]] = [[0x4D, 0x4D, 0, 0x2A], [0x49, 0x49, 0x2A, 0], [0x4D, 0x4D, 0x2A, 0],
                                   [0x49, 0x49, 0, 0x2A], [0x4D, 0x4D, 0, 0x2B], [0x49, 0x49, 0x2B, 0]]
        // Pillow's BigTIFF test looks at byte 2 only, and then wants 16 header bytes of the 8 it read.
        guard prefixes.contains(magic), tiff[2] != 0x2B, tiff.count >= 8 else { return .unreadable }
        let r = Reader(bytes: tiff, little: tiff[0] == 0x49)
        guard let ifd = r.u32(4) else { return .unreadable }
        return entry(r, ifd: ifd)
    }

    /// Byte size of one value of each TIFF type Pillow's IFD reader loads; others are skipped.
    private static let unitSizes: [Int: Int] = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4,
                                                10: 8, 11: 4, 12: 8, 13: 4, 16: 8]

    private static func entry(_ r: Reader, ifd: Int) -> Reading {
        guard let count = r.u16(ifd) else { return .absent }  // Pillow warns and keeps nothing
        var outOfLine = 0  // bytes of out-of-line values so far; Pillow skips a tag past the stream size
        var stored = Set<Int>()  // tags already read: a repeated tag is skipped before anything else
        for i in 0..<count {
            let at = ifd + 2 + 12 * i
            // A short entry ends the IFD (Pillow's read raises OSError, which load() catches).
            guard at + 12 <= r.bytes.count, let tag = r.u16(at), let type = r.u16(at + 2),
                  let n = r.u32(at + 4) else { return .absent }
            guard !stored.contains(tag), let unit = unitSizes[type] else { continue }
            let size = n * unit
            let valueAt: Int
            if size > 4 {
                outOfLine += size
                if outOfLine > r.bytes.count { continue }
                guard let offset = r.u32(at + 8), offset + size <= r.bytes.count else {
                    return .absent  // "Truncated File Read": the rest of the IFD is lost
                }
                valueAt = offset
            } else {
                valueAt = at + 8
            }
            guard size > 0 else { continue }  // an empty value is dropped
            guard tag == 0x0112 else { stored.insert(tag); continue }
            return .present(orientation(r, type: type, at: valueAt))
        }
        return .absent
    }

    /// The first value as Python compares it with the keys 2...8 of exif_transpose's table:
    /// integers and whole floats and fractions match, bytes and strings never do.
    private static func orientation(_ r: Reader, type: Int, at: Int) -> ExifOrientation? {
        let value: Double?
        switch type {
        case 3: value = r.u16(at).map(Double.init)                                         // SHORT
        case 4, 13: value = r.u32(at).map(Double.init)                                     // LONG, IFD
        case 6: value = r.u8(at).map { Double(Int8(truncatingIfNeeded: $0)) }             // SBYTE
        case 8: value = r.u16(at).map { Double(Int16(truncatingIfNeeded: $0)) }           // SSHORT
        case 9: value = r.u32(at).map { Double(Int32(truncatingIfNeeded: $0)) }           // SLONG
        case 16: value = r.u64(at).map { Double($0) }                                      // LONG8
        case 11: value = r.u32(at).map { Double(Float(bitPattern: UInt32($0))) }          // FLOAT
        case 12: value = r.u64(at).map { Double(bitPattern: $0) }                          // DOUBLE
        case 5, 10:                                                                        // (S)RATIONAL
            guard var num = r.u32(at), var den = r.u32(at + 4) else { return nil }
            if type == 10 {
                num = Int(Int32(truncatingIfNeeded: num)); den = Int(Int32(truncatingIfNeeded: den))
            }
            // IFDRational: a zero denominator is NaN; otherwise the exact fraction.
            guard den != 0, num % den == 0 else { return nil }
            value = Double(num / den)
        default: value = nil                                                               // BYTE, ASCII, UNDEFINED
        }
        guard let v = value, v == v.rounded(), v >= 1, v <= 8 else { return nil }
        return ExifOrientation(rawValue: Int(v))
    }

    /// Bounds-checked reads in the payload's byte order; nil past the end.
    private struct Reader {
        let bytes: [UInt8]
        let little: Bool

        func u8(_ at: Int) -> Int? {
            guard at >= 0, at < bytes.count else { return nil }
            return Int(bytes[at])
        }

        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= bytes.count else { return nil }
            let a = Int(bytes[at]), b = Int(bytes[at + 1])
            return little ? a | b << 8 : a << 8 | b
        }

        func u32(_ at: Int) -> Int? {
            guard let lo = u16(little ? at : at + 2), let hi = u16(little ? at + 2 : at) else { return nil }
            return hi << 16 | lo
        }

        func u64(_ at: Int) -> UInt64? {
            guard let lo = u32(little ? at : at + 4), let hi = u32(little ? at + 4 : at) else { return nil }
            return UInt64(hi) << 32 | UInt64(lo)
        }
    }
}
