import CJPEG

/// JPEG decoding with libjpeg, producing the pixels Pillow's `Image.open(p).convert("RGB")`
/// produces: islow IDCT, fancy upsampling, grey replicated, CMYK read with Adobe polarity
/// ("CMYK;I") and converted with Pillow's `cmyk2rgb`.
///
/// Damage is judged as Pillow judges it (see `graft_jpeg_read`): libjpeg's warnings
/// ("N extraneous bytes before marker", "premature end of data segment", a bad restart
/// marker, ...) are ignored and the image is read as libjpeg recovers it; libjpeg errors
/// refuse the file, and so does data that ends before the last row is decoded.
enum JPEGDecoder {
    /// What libjpeg reported while reading: how many warnings, and the first one's text.
    struct Report: Equatable {
        var warnings: Int
        var firstWarning: String
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> RGBImage {
        try decodeReporting(bytes, path: path).image
    }

    static func decodeReporting(_ bytes: [UInt8], path: String) throws -> (image: RGBImage, report: Report) {
        var header = graft_jpeg_result()
        let headerStatus = bytes.withUnsafeBufferPointer { p in
            graft_jpeg_read(p.baseAddress, p.count, nil, 0, &header)
        }
        try check(headerStatus, header, path)
        let width = Int(header.width), height = Int(header.height), channels = Int(header.components)
        guard width > 0, height > 0, width <= 65_535, height <= 65_535, width * height <= 1 << 28 else {
            throw ImagingError.badDimensions(path: path, width: width, height: height)
        }
        var raw = [UInt8](repeating: 0, count: width * height * channels)
        var result = graft_jpeg_result()
        let status = bytes.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                graft_jpeg_read(src.baseAddress, src.count, dst.baseAddress, dst.count, &result)
            }
        }
        try check(status, result, path)
        let report = Report(warnings: Int(result.warnings), firstWarning: text(result.first_warning))
        switch channels {
        case 1: return (expandGrey(raw, width, height), report)
        case 4: return (cmykToRGB(raw, width, height), report)
        default: return (RGBImage(unchecked: width, height, raw), report)
        }
    }

    private static func check(_ status: Int32, _ result: graft_jpeg_result, _ path: String) throws {
        switch UInt32(bitPattern: status) {
        case GRAFT_JPEG_OK.rawValue:
            return
        case GRAFT_JPEG_TRUNCATED.rawValue:
            throw ImagingError.corrupt(path: path, format: "JPEG",
                                       reason: "the file ends before the image data does")
        case GRAFT_JPEG_COMPONENTS.rawValue:
            throw ImagingError.corrupt(path: path, format: "JPEG",
                                       reason: "\(result.components) colour components; only 1 (grey), 3 (colour) and 4 (CMYK) are read")
        case GRAFT_JPEG_BROKEN.rawValue:
            let message = text(result.message)
            throw ImagingError.corrupt(path: path, format: "JPEG",
                                       reason: message.isEmpty ? "libjpeg refused the data" : message)
        default:
            throw ImagingError.corrupt(path: path, format: "JPEG", reason: "the decoder's output size changed between reads")
        }
    }

    /// A NUL-terminated C character array as a String.
    private static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Pillow's L -> RGB: the grey value in all three channels.
    static func expandGrey(_ grey: [UInt8], _ width: Int, _ height: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        grey.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(width * height) {
                    let v = src[i]
                    dst[3 * i] = v; dst[3 * i + 1] = v; dst[3 * i + 2] = v
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// libjpeg's CMYK output read as Pillow's "CMYK;I" (every value inverted), then
    /// Pillow's `cmyk2rgb`: nk = 255 - k; out = clip8(nk - MULDIV255(c, nk)).
    static func cmykToRGB(_ raw: [UInt8], _ width: Int, _ height: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        raw.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<(width * height) {
                    let nk = 255 - (255 - Int(src[4 * i + 3]))
                    for c in 0..<3 {
                        let value = 255 - Int(src[4 * i + c])
                        let tmp = value * nk + 128
                        let mul = ((tmp >> 8) + tmp) >> 8
                        dst[3 * i + c] = UInt8(clamping: nk - mul)
                    }
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }
}
