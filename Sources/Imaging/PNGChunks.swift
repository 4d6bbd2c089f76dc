/// A bounds-checked walk over a PNG's chunks, done before libpng sees the bytes: it
/// checks the chunks as Pillow's reader does (refusing what it refuses), finds the Exif
/// block and XMP packet where Pillow finds them (`PNGPillowChunks`), and removes the
/// colour-space chunks (gAMA, cHRM, sRGB, iCCP) that Pillow ignores but libpng's
/// simplified API would act on, so that libpng hands back the stored sample values, and
/// tRNS, which `convert("RGB")` ignores but which would make libpng premultiply 16-bit
/// samples by the (0 or 1) alpha it derives from it.
struct PNGChunks {
    /// The bytes with the colour-space chunks left out.
    var stripped: [UInt8]
    /// The Exif block Pillow reads (see `PNGPillowChunks`): the last eXIf chunk's data, prefixed
    /// with "Exif\0\0" as Pillow stores it, or ImageMagick's hex "Raw profile type exif".
    var exif: [UInt8]?
    /// Pillow's getexif() raises on this file's Exif block (so exif_transpose fails).
    var exifUnreadable = false
    /// Why Pillow refuses the file while reading its text chunks, if it does.
    var refusal: String?
    /// The XMP packet Pillow searches for an orientation (see `PNGPillowChunks.xmp`).
    var xmp: [UInt8]?
    /// IHDR's colour type and bit depth (nil when IHDR is missing or short).
    var colorType: UInt8?
    var bitDepth: UInt8?

    init(_ bytes: [UInt8]) {
        let ignored: Set<String> = ["gAMA", "cHRM", "sRGB", "iCCP", "tRNS"]
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        out += bytes.prefix(8)
        var i = 8
        var text = PNGPillowChunks()
        var seenIDAT = false
        var garbageAfterIDAT = false  // or, in an animated PNG, the next frame's fcTL
        var frames: Int?  // Pillow's n_frames from acTL
        var animated: Bool { (frames ?? 1) > 1 }
        while i + 8 <= bytes.count {
            let length = bigEndian32(bytes, i)
            let typeBytes = bytes[(i + 4)..<(i + 8)]
            let type = String(decoding: typeBytes, as: UTF8.self)
            let end = i + 12 + length
            // Pillow's checks: before the first IDAT it reads every chunk whole and checks
            // its type and CRC; after it, a chunk whose data is cut short ends in an error
            // (an unreadable type only ends the walk). It never checks the CRC of IDAT or later chunks.
            let wordType = typeBytes.allSatisfy { $0 == 0x5F || (0x30...0x39).contains($0) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }
            if type == "IDAT" { seenIDAT = true }
            if type == "acTL" && !seenIDAT && end <= bytes.count {
                guard length >= 8 else { refusal = "truncated acTL chunk"; break }
                let n = bigEndian32(bytes, i + 8)
                if frames != nil {
                    frames = nil  // a second acTL: Pillow falls back to the default image
                } else if n != 0 && n <= 0x8000_0000 {
                    frames = n
                }
            }
            if !seenIDAT {
                guard wordType else { refusal = "broken chunk type at byte \(i)"; break }
                guard end <= bytes.count else { refusal = "the file ends inside its \(type) chunk"; break }
                let stored = UInt32(bigEndian32(bytes, end - 4))
                guard CRC32.checksum(bytes[(i + 4)..<(end - 4)]) == stored else {
                    refusal = "the \(type) chunk's checksum is wrong"
                    break
                }
            } else if !wordType || (animated && type == "fcTL") {
                garbageAfterIDAT = true  // Pillow stops reading chunks here, without complaint
                break
            } else if type != "IDAT" && type != "IEND" && i + 8 + length > bytes.count {
                refusal = "the file ends inside its \(type) chunk"
                break
            }
            guard end <= bytes.count else { break }  // truncated: let libpng report it
            if type == "IHDR" && length >= 13 && colorType == nil {
                bitDepth = bytes[i + 16]
                colorType = bytes[i + 17]
                if let bomb = DecompressionBomb.refusal(width: bigEndian32(bytes, i + 8), height: bigEndian32(bytes, i + 12)) {
                    refusal = bomb
                    break
                }
            }
            if type != "IEND" { text.observe(type, bytes[(i + 8)..<(i + 8 + length)]) }
            // libpng refuses chunk types that are not four letters and critical chunks it does
            // not know, which Pillow skips; and it checks CRCs Pillow does not: it gets each
            // chunk it is given with its CRC recomputed.
            let letters = typeBytes.allSatisfy { $0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A }
            let critical = typeBytes.first.map { $0 & 0x20 == 0 } ?? false
            let libpngKnows = ["IHDR", "PLTE", "IDAT", "IEND"].contains(type) || (letters && !critical)
            if !ignored.contains(type) && libpngKnows {
                out += bytes[i..<(end - 4)]
                let crc = CRC32.checksum(bytes[(i + 4)..<(end - 4)])
                out += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
            }
            i = end
            if type == "IEND" { break }
        }
        if garbageAfterIDAT {
            out += [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82]  // what follows is not chunks
        } else {
            out += bytes[i...]  // whatever could not be walked goes to libpng unchanged
        }
        stripped = out
        refusal = refusal ?? text.refusal
        xmp = text.xmp
        switch text.exif {
        case .none:
            break
        case .block(let block):
            exif = block
            exifUnreadable = ExifIFD0.read(block) == .unreadable
        case .unreadable:
            exifUnreadable = true
        }
    }
}
