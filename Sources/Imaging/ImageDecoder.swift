import Foundation

/// Reading an image file into upright RGB, as
/// `ImageOps.exif_transpose(Image.open(path)).convert("RGB")` does.
public enum ImageDecoder {
    /// Decodes the file at `path` (JPEG or PNG, recognised by content, not by name). The path
    /// may hold bytes that are not UTF-8 (see `PathBytes`); anything but a regular file (a
    /// named pipe, a device, a folder) is refused before it is read.
    public static func decode(path: String) throws -> RGBImage {
        let bytes: [UInt8]
        do {
            bytes = try PathBytes.readRegularFile(path)
        } catch let e as PathBytes.ReadFailure {
            throw e.notAFile ? ImagingError.notAFile(path: path, what: e.reason) : ImagingError.unreadable(path: path, reason: e.reason)
        }
        return try decode(bytes: bytes, path: path)
    }

    /// Decodes image bytes; `path` only names the image in error messages.
    public static func decode(bytes: [UInt8], path: String = "<memory>") throws -> RGBImage {
        guard let format = ImageFormat.sniff(bytes) else {
            throw ImagingError.unknownFormat(path: path)
        }
        switch format {
        case .jpeg:
            // Pillow reads the markers itself before libjpeg does, and refuses some files there.
            let metadata = JPEGMetadata(scanning: bytes)
            if let refusal = metadata.refusal {
                throw ImagingError.corrupt(path: path, format: "JPEG", reason: refusal)
            }
            let image = try JPEGDecoder.decode(bytes, path: path)
            if metadata.exifTransposeFails {
                throw ImagingError.corrupt(path: path, format: "JPEG", reason: "its Exif block is not TIFF data")
            }
            return metadata.orientation.map { image.applying($0) } ?? image
        case .png:
            let (image, orientation) = try PNGDecoder.decode(bytes, path: path)
            return orientation.map { image.applying($0) } ?? image
        case .webp, .bmp, .gif, .tiff:
            throw ImagingError.unsupportedFormat(path: path, format: format.rawValue)
        }
    }
}
