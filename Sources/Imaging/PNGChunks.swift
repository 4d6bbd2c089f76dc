/// A bounds-checked walk over a PNG's chunks, done before libpng sees the bytes:
/// it finds the eXIf payload (which Pillow reads wherever the chunk is) and removes the
/// colour-space chunks (gAMA, cHRM, sRGB, iCCP) that Pillow ignores but libpng's
/// simplified API would act on, so that libpng hands back the stored sample values.
struct PNGChunks {
    /// The bytes with the colour-space chunks left out.
    var stripped: [UInt8]
    /// The eXIf chunk's data, prefixed with "Exif\0\0" as Pillow stores it.
    var exif: [UInt8]?
    /// IHDR's colour type and bit depth (nil when IHDR is missing or short).
    var colorType: UInt8?
    var bitDepth: UInt8?

    init(_ bytes: [UInt8]) {
        let ignored: Set<String> = ["gAMA", "cHRM", "sRGB", "iCCP"]
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        out += bytes.prefix(8)
        var i = 8
        while i + 12 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let end = i + 12 + length
            guard end <= bytes.count else { break }  // truncated: let libpng report it
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            if type == "IHDR" && length >= 13 && colorType == nil {
                bitDepth = bytes[i + 16]
                colorType = bytes[i + 17]
            }
            if type == "eXIf" && exif == nil {
                exif = Array("Exif".utf8) + [0, 0] + Array(bytes[(i + 8)..<(i + 8 + length)])
            }
            if !ignored.contains(type) { out += bytes[i..<end] }
            i = end
            if type == "IEND" { break }
        }
        out += bytes[i...]  // whatever could not be walked goes to libpng unchanged
        stripped = out
    }
}
