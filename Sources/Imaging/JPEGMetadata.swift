/// The metadata segments Pillow's JPEG plugin collects before the first scan:
/// the Exif payload (APP1 "Exif\0\0"; later Exif segments are appended without their
/// header, as Pillow does) and the XMP packet (APP1 "http://ns.adobe.com/xap/1.0/\0").
struct JPEGMetadata {
    var exif: [UInt8]?
    var xmp: [UInt8]?

    init(scanning bytes: [UInt8]) {
        let exifHeader: [UInt8] = Array("Exif".utf8) + [0, 0]
        let xmpHeader: [UInt8] = Array("http://ns.adobe.com/xap/1.0/".utf8) + [0]
        var i = 2  // after SOI
        while i < bytes.count {
            guard bytes[i] == 0xFF else { i += 1; continue }  // skip junk, as Pillow does
            var j = i + 1
            while j < bytes.count && bytes[j] == 0xFF { j += 1 }  // fill bytes
            guard j < bytes.count else { return }
            let marker = bytes[j]
            i = j + 1
            if marker == 0xDA || marker == 0xD9 { return }                       // SOS, EOI
            if marker == 0x01 || marker == 0xD8 || (0xD0...0xD7).contains(marker) { continue }
            guard i + 2 <= bytes.count else { return }
            let length = Int(bytes[i]) << 8 | Int(bytes[i + 1])
            guard length >= 2, i + length <= bytes.count else { return }
            let payload = bytes[(i + 2)..<(i + length)]
            i += length
            guard marker == 0xE1 else { continue }
            if payload.starts(with: exifHeader) {
                if let first = exif { exif = first + payload.dropFirst(6) } else { exif = Array(payload) }
            } else if payload.starts(with: xmpHeader) {
                xmp = Array(payload.dropFirst(xmpHeader.count))
            }
        }
    }

    /// The orientation `ImageOps.exif_transpose` would apply (EXIF first, then XMP).
    var orientation: ExifOrientation? { ExifOrientation.resolve(exif: exif, xmp: xmp) }
}
