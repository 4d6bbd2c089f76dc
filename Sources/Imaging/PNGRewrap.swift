/// Pillow's PNG decoder stops inflating as soon as it has every row, so it reads files whose
/// zlib stream is damaged, cut or unterminated after the last row; libpng refuses them
/// ("Not enough image data", a checksum error). When libpng refuses a file, this rebuilds
/// it with the rows Pillow would get, re-wrapped in a well-formed zlib stream (stored
/// blocks), so that libpng decodes exactly those rows. Nil when Pillow would not get them all.
enum PNGRewrap {
    static func rebuild(_ png: [UInt8]) -> [UInt8]? {
        var header: (width: Int, height: Int, depth: Int, colorType: Int, interlace: Int)?
        var before = [UInt8]()  // chunks before the first IDAT
        var idat = [UInt8]()
        var i = 8
        var inRun = false
        while i + 12 <= png.count {
            let length = bigEndian32(png, i)
            // Pillow reads what there is of the last IDAT chunk (a shorter read, not an error).
            let end = min(i + 12 + length, png.count)
            let type = String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self)
            if type == "IHDR" && length >= 13 && header == nil && i + 21 <= png.count {
                header = (bigEndian32(png, i + 8), bigEndian32(png, i + 12), Int(png[i + 16]), Int(png[i + 17]), Int(png[i + 20]))
            }
            if type == "IDAT" {
                inRun = true
                idat += png[(i + 8)..<max(i + 8, min(i + 8 + length, png.count))]
            } else if inRun {
                break  // the image data is the first run of IDAT chunks
            } else {
                before += png[i..<end]
            }
            i = end
        }
        guard let h = header, h.width > 0, h.height > 0, h.width <= 1 << 16, h.height <= 1 << 16,
              DecompressionBomb.refusal(width: h.width, height: h.height) == nil,
              let channels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][h.colorType], [1, 2, 4, 8, 16].contains(h.depth) else { return nil }
        let bitsPerPixel = channels * h.depth
        func rows(_ w: Int, _ r: Int) -> Int { w > 0 && r > 0 ? r * (1 + (w * bitsPerPixel + 7) / 8) : 0 }
        let needed: Int
        if h.interlace == 1 {
            let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            needed = passes.reduce(0) { sum, p in
                sum + rows((h.width - p.0 + p.2 - 1) / p.2, (h.height - p.1 + p.3 - 1) / p.3)
            }
        } else {
            needed = rows(h.width, h.height)
        }
        guard let raw = Zlib.prefix(idat, count: needed), raw.count == needed,
              let stream = Zlib.stored(raw) else { return nil }
        var out = Array(png.prefix(8)) + before
        var start = 0
        repeat {
            let n = min(1 << 30, stream.count - start)
            out += chunk("IDAT", stream[start..<(start + n)])
            start += n
        } while start < stream.count
        out += chunk("IEND", [])
        return out
    }

    private static func chunk<C: Collection>(_ type: String, _ data: C) -> [UInt8] where C.Element == UInt8 {
        let n = data.count
        var c = [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + Array(type.utf8) + Array(data)
        let crc = CRC32.checksum(c[4...])
        c += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        return c
    }
}
