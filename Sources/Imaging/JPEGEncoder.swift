import CTurboJPEG

/// Writes JPEG files through libjpeg-turbo (used to turn data sets into image folders).
public enum JPEGEncoder {
    /// JPEG bytes of an 8-bit greyscale image (`width * height` bytes, row-major).
    public static func grey(_ pixels: [UInt8], width: Int, height: Int, quality: Int = 95) throws -> [UInt8] {
        guard pixels.count == width * height, width > 0, height > 0 else {
            throw ImagingError.invalidArgument("JPEGEncoder: \(pixels.count) bytes for a \(width)x\(height) grey image")
        }
        guard let handle = tjInitCompress() else { throw ImagingError.invalidArgument("JPEGEncoder: cannot start libjpeg-turbo") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(width), 0, Int32(height), Int32(TJPF_GRAY.rawValue),
                        &out, &size, Int32(TJSAMP_GRAY.rawValue), Int32(quality), 0)
        }
        defer { if let o = out { tjFree(o) } }
        guard rc == 0, let o = out else {
            throw ImagingError.invalidArgument("JPEGEncoder: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: o, count: Int(size)))
    }

    /// JPEG bytes of an RGB image (4:2:0 chroma, as Pillow saves by default): the report's thumbnails.
    public static func rgb(_ image: RGBImage, quality: Int = 85) throws -> [UInt8] {
        guard image.pixels.count == image.width * image.height * 3, image.width > 0, image.height > 0 else {
            throw ImagingError.invalidArgument("JPEGEncoder: \(image.pixels.count) bytes for a \(image.width)x\(image.height) RGB image")
        }
        guard let handle = tjInitCompress() else { throw ImagingError.invalidArgument("JPEGEncoder: cannot start libjpeg-turbo") }
        defer { tjDestroy(handle) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = image.pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &out, &size, Int32(TJSAMP_420.rawValue), Int32(quality), 0)
        }
        defer { if let o = out { tjFree(o) } }
        guard rc == 0, let o = out else {
            throw ImagingError.invalidArgument("JPEGEncoder: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: o, count: Int(size)))
    }
}
