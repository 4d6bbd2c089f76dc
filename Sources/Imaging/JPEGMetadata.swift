/// Pillow's own walk over a JPEG's markers before the first scan (`JpegImageFile._open`),
/// which runs before libjpeg sees the file. It collects the Exif payload (APP1 "Exif\0\0";
/// later Exif segments are appended without their header, as Pillow does) and the XMP
/// packet (the last APP1 "http://ns.adobe.com/xap/1.0/\0"), and notes what makes
/// `Image.open` fail there even though libjpeg would decode the file.
struct JPEGMetadata {
    var exif: [UInt8]?
    var xmp: [UInt8]?
    /// Why Pillow's header walk refuses the file, if it does.
    var refusal: String?
    /// A JFIF APP0 gave a resolution (Pillow's info["dpi"]); then Pillow does not read the
    /// Exif block while opening, and an unreadable one makes exif_transpose fail later.
    var jfifDPI = false

    init(scanning bytes: [UInt8]) {
        let exifHeader: [UInt8] = Array("Exif".utf8) + [0, 0]
        let xmpHeader: [UInt8] = Array("http://ns.adobe.com/xap/1.0/".utf8) + [0]
        var icc: [ArraySlice<UInt8>] = []
        var i = 3  // after FF D8 FF, which the format sniffer checked; that FF starts the first marker
        var pendingFF = true
        while true {
            if !pendingFF {
                guard i < bytes.count else { return }
                let b = bytes[i]
                i += 1
                if b != 0xFF { continue }  // junk between segments is skipped
            }
            pendingFF = false
            guard i < bytes.count else { return }
            let marker = bytes[i]
            i += 1
            if marker == 0xFF { pendingFF = true; continue }  // a fill byte
            if marker == 0x00 { continue }                     // a stuffed FF 00
            guard marker >= 0xC0 && marker != 0xFF else {
                refusal = "no marker found: 0xFF\(hex(marker)) at byte \(i - 2)"
                return
            }
            let hasLength = !(marker == 0xC8 || (0xD0...0xD9).contains(marker) || (0xF0...0xFD).contains(marker))
            guard hasLength else { continue }
            guard i + 2 <= bytes.count else { refusal = "the file ends inside a marker segment's length"; return }
            let n = (Int(bytes[i]) << 8 | Int(bytes[i + 1])) - 2
            i += 2
            let payload: ArraySlice<UInt8>
            if n > 0 {
                guard i + n <= bytes.count else {
                    refusal = "the file ends inside marker 0xFF\(hex(marker))'s segment"
                    return
                }
                payload = bytes[i..<(i + n)]
                i += n
            } else {
                payload = []
            }
            if let why = examine(marker, Array(payload), &icc, exifHeader, xmpHeader) {
                refusal = why
                return
            }
            if marker == 0xDA { return }  // SOS: Pillow hands the file to libjpeg
        }
    }

    /// One segment, as Pillow's handler for its marker reads it; a reason when it raises.
    private mutating func examine(_ marker: UInt8, _ s: [UInt8], _ icc: inout [ArraySlice<UInt8>],
                                  _ exifHeader: [UInt8], _ xmpHeader: [UInt8]) -> String? {
        func starts(_ text: String) -> Bool { s.starts(with: Array(text.utf8)) }
        switch marker {
        case 0xE0 where starts("JFIF"):
            guard s.count >= 7 else { return "its JFIF segment is too short to hold a version" }
            if s.count >= 12 && (s[7] == 1 || s[7] == 2) { jfifDPI = true }
        case 0xEE where starts("Adobe"):
            guard s.count >= 7 else { return "its Adobe segment is too short to hold a version" }
        case 0xE1:
            if s.starts(with: exifHeader) {
                if let first = exif { exif = first + s.dropFirst(6) } else { exif = s }
            } else if s.starts(with: xmpHeader) {
                xmp = Array(s.dropFirst(xmpHeader.count))
            }
        case 0xE2 where s.starts(with: Array("ICC_PROFILE".utf8) + [0]):
            icc.append(s[...])
        case 0xDB:
            var t = s[...]
            while !t.isEmpty {
                let length = 1 + (t[t.startIndex] >> 4 == 0 ? 64 : 128)
                guard t.count >= length else { return "bad quantization table marker" }
                t = t.dropFirst(length)
            }
        case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF, 0xDE:  // SOF (and DHP, which Pillow reads as one)
            guard s.count >= 6 else { return "its frame header is too short" }
            guard s[0] == 8 else { return "\(s[0])-bit samples; only 8-bit JPEG is read" }
            guard [1, 3, 4].contains(s[5]) else { return "\(s[5]) colour components; only 1, 3 or 4 are read" }
            guard (s.count - 6) % 3 == 0 else { return "its frame header has a partial component" }
            if let bomb = DecompressionBomb.refusal(width: Int(s[3]) << 8 | Int(s[4]), height: Int(s[1]) << 8 | Int(s[2])) { return bomb }
            if let first = icc.min(by: { $0.lexicographicallyPrecedes($1) }), first.count <= 13 {
                return "its ICC profile segment is too short"
            }
            icc = []
        default:
            break
        }
        return nil
    }

    private func hex(_ b: UInt8) -> String { (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true) }

    /// The orientation `ImageOps.exif_transpose` would apply (EXIF first, then XMP).
    var orientation: ExifOrientation? { ExifOrientation.resolve(exif: exif, xmp: xmp) }

    /// Pillow fails in exif_transpose: the Exif block is unreadable and was not read (and
    /// its failure swallowed) while opening, because a JFIF resolution was present.
    var exifTransposeFails: Bool {
        guard jfifDPI, let exif else { return false }
        return ExifIFD0.read(exif) == .unreadable
    }
}
