import CTurboJPEG

/// JPEG decoding with libjpeg-turbo, producing the pixels Pillow's
/// `Image.open(p).convert("RGB")` produces: islow IDCT, fancy upsampling, grey replicated,
/// CMYK read with Adobe polarity ("CMYK;I") and converted with Pillow's `cmyk2rgb`.
enum JPEGDecoder {
    static func decode(_ bytes: [UInt8], path: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else {
            throw ImagingError.corrupt(path: path, format: "JPEG", reason: "cannot start the TurboJPEG decoder")
        }
        defer { tjDestroy(handle) }
        var w: Int32 = 0, h: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        let headerStatus = bytes.withUnsafeBufferPointer { p in
            tjDecompressHeader3(handle, p.baseAddress, UInt(p.count), &w, &h, &subsamp, &colorspace)
        }
        guard headerStatus == 0 else {
            throw ImagingError.corrupt(path: path, format: "JPEG", reason: message(handle))
        }
        let width = Int(w), height = Int(h)
        guard width > 0, height > 0, width <= 65_535, height <= 65_535, width * height <= 1 << 28 else {
            throw ImagingError.badDimensions(path: path, width: width, height: height)
        }
        let channels: Int
        let format: TJPF
        switch colorspace {
        case Int32(TJCS_GRAY.rawValue): channels = 1; format = TJPF_GRAY
        case Int32(TJCS_CMYK.rawValue), Int32(TJCS_YCCK.rawValue): channels = 4; format = TJPF_CMYK
        default: channels = 3; format = TJPF_RGB
        }
        var raw = [UInt8](repeating: 0, count: width * height * channels)
        let status = bytes.withUnsafeBufferPointer { src in
            raw.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress,
                              w, Int32(width * channels), h, Int32(format.rawValue), TJFLAG_ACCURATEDCT)
            }
        }
        if status != 0 {
            let text = message(handle)
            // Warnings (e.g. extraneous bytes) do not stop Pillow; a truncated file does.
            if tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) || text.contains("Premature end") {
                throw ImagingError.corrupt(path: path, format: "JPEG", reason: text)
            }
        }
        switch channels {
        case 1: return expandGrey(raw, width, height)
        case 4: return cmykToRGB(raw, width, height)
        default: return RGBImage(unchecked: width, height, raw)
        }
    }

    private static func message(_ handle: tjhandle) -> String {
        guard let s = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: s)
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
