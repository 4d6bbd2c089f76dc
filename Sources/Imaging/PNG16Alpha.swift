/// 16-bit PNGs with an alpha channel (colour types 4 and 6), read sample for sample:
/// libpng's simplified API only returns such images premultiplied, while Pillow reads
/// them as "LA;16B"/"RGBA;16B" (the high byte of every sample, alpha untouched) and
/// `convert("RGB")` drops the alpha. libpng has already checked the file's structure
/// and CRCs; this reads IHDR and the IDAT stream (inflate, unfilter, Adam7) itself.
enum PNG16Alpha {
    static func decode(_ bytes: [UInt8], path: String) throws -> RGBImage {
        func fail(_ reason: String) -> ImagingError { .corrupt(path: path, format: "PNG", reason: reason) }
        var width = 0, height = 0, colorType = 0, interlace = 0
        var idat = [UInt8]()
        var i = 8
        while i + 12 <= bytes.count {
            let length = bigEndian32(bytes, i)
            guard i + 12 + length <= bytes.count else { throw fail("chunk runs past the end of the file") }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            let data = bytes[(i + 8)..<(i + 8 + length)]
            if type == "IHDR" {
                guard length >= 13 else { throw fail("short IHDR") }
                let d = data.startIndex
                width = bigEndian32(data, d)
                height = bigEndian32(data, d + 4)
                guard data[d + 8] == 16 else { throw fail("not a 16-bit image") }
                colorType = Int(data[d + 9])
                interlace = Int(data[d + 12])
            } else if type == "IDAT" {
                idat += data
            } else if type == "IEND" {
                break
            }
            i += 12 + length
        }
        let channels: Int
        switch colorType {
        case 4: channels = 2
        case 6: channels = 4
        default: throw fail("colour type \(colorType) has no alpha channel")
        }
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, width * height <= 1 << 28 else {
            throw ImagingError.badDimensions(path: path, width: width, height: height)
        }
        guard interlace <= 1 else { throw fail("unknown interlace method \(interlace)") }
        let bpp = channels * 2
        // Adam7 passes as (x0, y0, dx, dy); one pass covering everything when not interlaced.
        let passes = interlace == 1
            ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
            : [(0, 0, 1, 1)]
        var needed = 0
        for (x0, y0, dx, dy) in passes {
            let pw = (width - x0 + dx - 1) / dx, ph = (height - y0 + dy - 1) / dy
            if pw > 0 && ph > 0 { needed += ph * (1 + pw * bpp) }
        }
        let raw: [UInt8]
        do {
            raw = try Inflater.zlib(idat, limit: needed + 1)
        } catch let error as InflateError {
            throw fail(error.description)
        }
        guard raw.count >= needed else { throw fail("image data ends early") }

        var out = [UInt8](repeating: 0, count: width * height * 3)
        var offset = 0
        for (x0, y0, dx, dy) in passes {
            let pw = (width - x0 + dx - 1) / dx, ph = (height - y0 + dy - 1) / dy
            guard pw > 0 && ph > 0 else { continue }
            let stride = pw * bpp
            var previous = [UInt8](repeating: 0, count: stride)
            var row = [UInt8](repeating: 0, count: stride)
            for y in 0..<ph {
                let filter = raw[offset]
                for k in 0..<stride { row[k] = raw[offset + 1 + k] }
                offset += 1 + stride
                try unfilter(&row, previous, filter: filter, bpp: bpp, fail: fail)
                for x in 0..<pw {
                    let p = x * bpp
                    let o = (((y0 + y * dy) * width) + x0 + x * dx) * 3
                    if channels == 2 {  // grey high byte, replicated
                        out[o] = row[p]; out[o + 1] = row[p]; out[o + 2] = row[p]
                    } else {            // R, G, B high bytes
                        out[o] = row[p]; out[o + 1] = row[p + 2]; out[o + 2] = row[p + 4]
                    }
                }
                swap(&previous, &row)
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// Undoes one PNG row filter in place (`previous` is the unfiltered row above, or zeros).
    private static func unfilter(_ row: inout [UInt8], _ previous: [UInt8], filter: UInt8, bpp: Int,
                                 fail: (String) -> ImagingError) throws {
        let n = row.count
        switch filter {
        case 0: break
        case 1: for k in bpp..<max(bpp, n) { row[k] = row[k] &+ row[k - bpp] }
        case 2: for k in 0..<n { row[k] = row[k] &+ previous[k] }
        case 3:
            for k in 0..<n {
                let left = k >= bpp ? Int(row[k - bpp]) : 0
                row[k] = row[k] &+ UInt8((left + Int(previous[k])) / 2)
            }
        case 4:
            for k in 0..<n {
                let a = k >= bpp ? Int(row[k - bpp]) : 0, b = Int(previous[k])
                let c = k >= bpp ? Int(previous[k - bpp]) : 0
                let p = a + b - c
                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                row[k] = row[k] &+ UInt8(pa <= pb && pa <= pc ? a : (pb <= pc ? b : c))
            }
        default: throw fail("unknown row filter \(filter)")
        }
    }
}
