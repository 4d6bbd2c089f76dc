import CPNG
import CPNGRead

/// PNG decoding with libpng's simplified API (its only interface that reports errors
/// without longjmp), producing the pixels Pillow's `Image.open(p).convert("RGB")` produces:
/// grey replicated, alpha dropped (not composited), palette expanded, 1/2/4-bit grey
/// scaled to 0...255, 16-bit colour reduced to its high byte ("RGB;16B"), 16-bit grey
/// clipped to 255 (Pillow's "I;16" -> "RGB"). `PNGChunks` first removes the chunks
/// Pillow ignores but libpng would act on (gAMA, cHRM, sRGB, iCCP, tRNS).
///
/// 16-bit images with an alpha channel are read with libpng's full API (`graft_png_read`),
/// because the simplified API only returns them premultiplied: Pillow reads them as
/// "LA;16B"/"RGBA;16B", the high byte of every sample with alpha untouched, which is what
/// png_set_strip_16 gives; `convert("RGB")` then drops the alpha.
enum PNGDecoder {
    static func decode(_ bytes: [UInt8], path: String) throws -> (RGBImage, ExifOrientation?) {
        let chunks = PNGChunks(bytes)
        if let refusal = chunks.refusal {
            throw ImagingError.corrupt(path: path, format: "PNG", reason: refusal)
        }
        // Pillow's exif_transpose raises on an Exif block that is not TIFF data.
        if chunks.exifUnreadable {
            throw ImagingError.corrupt(path: path, format: "PNG", reason: "its Exif block is not TIFF data")
        }
        // Pillow opens 16-bit grey (colour type 0) as "I;16", whose RGB conversion clips
        // at 255; every other 16-bit layout is read as its high byte.
        let clipsGrey = chunks.colorType == 0
        let rgb: RGBImage
        do {
            rgb = try pixels(chunks.stripped, clipsGrey: clipsGrey, path: path)
        } catch let error as ImagingError {
            // libpng wants a whole, checked zlib stream; Pillow only the rows (see PNGRewrap).
            guard case .corrupt = error, let rebuilt = PNGRewrap.rebuild(chunks.stripped),
                  let retried = try? pixels(rebuilt, clipsGrey: clipsGrey, path: path) else { throw error }
            rgb = retried
        }
        let orientation = ExifOrientation.resolve(exif: chunks.exif, xmp: chunks.xmp)
        return (rgb, orientation)
    }

    /// The pixels libpng decodes from `data` (the chunks Pillow's reading leaves to it).
    private static func pixels(_ data: [UInt8], clipsGrey: Bool, path: String) throws -> RGBImage {
        var image = png_image()
        image.version = png_uint_32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        let begun = data.withUnsafeBytes { p in
            png_image_begin_read_from_memory(&image, p.baseAddress, p.count)
        }
        guard begun != 0 else { throw failure(&image, path) }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, width * height <= 1 << 28 else {
            throw ImagingError.badDimensions(path: path, width: width, height: height)
        }
        let sourceFormat = image.format
        let hasAlpha = sourceFormat & PNG_FORMAT_FLAG_ALPHA != 0
        let isColor = sourceFormat & PNG_FORMAT_FLAG_COLOR != 0
        let is16 = sourceFormat & PNG_FORMAT_FLAG_LINEAR != 0
        // Same colour-ness and alpha-ness as the file (so libpng neither composites nor
        // converts), palette expanded, same sample width.
        image.format = sourceFormat & (PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_LINEAR)
        let channels = (isColor ? 3 : 1) + (hasAlpha ? 1 : 0)
        let count = width * height * channels
        let rgb: RGBImage
        if is16 && hasAlpha {
            // The simplified API would premultiply: libpng's full API reads the high bytes.
            let samples = try highBytes(data, width: width, height: height, channels: channels, path: path)
            rgb = samples.withUnsafeBufferPointer { src in
                toRGB(width, height, channels, isColor) { src[$0] }
            }
        } else if is16 {
            var samples = [UInt16](repeating: 0, count: count)
            let ok = samples.withUnsafeMutableBytes { p in
                png_image_finish_read(&image, nil, p.baseAddress, 0, nil)
            }
            guard ok != 0 else { throw failure(&image, path) }
            rgb = samples.withUnsafeBufferPointer { src in
                toRGB(width, height, channels, isColor) { i in
                    let v = src[i]
                    // grey: Pillow "I;16" -> RGB clips; colour: high byte
                    return clipsGrey ? UInt8(min(v, 255)) : UInt8(truncatingIfNeeded: v >> 8)
                }
            }
        } else {
            var samples = [UInt8](repeating: 0, count: count)
            let ok = samples.withUnsafeMutableBytes { p in
                png_image_finish_read(&image, nil, p.baseAddress, 0, nil)
            }
            guard ok != 0 else { throw failure(&image, path) }
            rgb = samples.withUnsafeBufferPointer { src in
                toRGB(width, height, channels, isColor) { src[$0] }
            }
        }
        return rgb
    }

    /// Drops alpha and replicates grey; `sample(i)` gives the i-th stored sample as a byte.
    private static func toRGB(_ width: Int, _ height: Int, _ channels: Int, _ isColor: Bool,
                              _ sample: (Int) -> UInt8) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        out.withUnsafeMutableBufferPointer { dst in
            for p in 0..<(width * height) {
                let s = p * channels
                if isColor {
                    dst[3 * p] = sample(s); dst[3 * p + 1] = sample(s + 1); dst[3 * p + 2] = sample(s + 2)
                } else {
                    let v = sample(s)
                    dst[3 * p] = v; dst[3 * p + 1] = v; dst[3 * p + 2] = v
                }
            }
        }
        return RGBImage(unchecked: width, height, out)
    }

    /// The stored samples, 16-bit ones as their high byte, read by libpng's full API (which
    /// applies no alpha transform); `width`, `height` and `channels` are what the simplified
    /// API's header read found, and the full read must agree.
    private static func highBytes(_ data: [UInt8], width: Int, height: Int, channels: Int,
                                  path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * channels)
        var result = graft_png_result()
        let status = data.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                graft_png_read(src.baseAddress, src.count, dst.baseAddress, dst.count, &result)
            }
        }
        switch graft_png_status(rawValue: UInt32(bitPattern: status)) {
        case GRAFT_PNG_OK:
            return out
        case GRAFT_PNG_BROKEN:
            let text = withUnsafeBytes(of: &result.message) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw ImagingError.corrupt(path: path, format: "PNG", reason: text.isEmpty ? "libpng refused the data" : text)
        default:
            throw ImagingError.corrupt(path: path, format: "PNG", reason:
                "libpng's full read found a \(result.width)x\(result.height) image of \(result.channels) channels where its header read found \(width)x\(height) of \(channels)")
        }
    }

    private static func failure(_ image: inout png_image, _ path: String) -> ImagingError {
        let text = withUnsafeBytes(of: &image.message) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return .corrupt(path: path, format: "PNG", reason: text.isEmpty ? "libpng refused the data" : text)
    }
}
