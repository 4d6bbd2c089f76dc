import Foundation

/// Reading an image file into upright RGB, as
/// `ImageOps.exif_transpose(Image.open(path)).convert("RGB")` does.
public enum ImageDecoder {
    /// Decodes the file at `path` (JPEG or PNG, recognised by content, not by name).
    public static func decode(path: String) throws -> RGBImage {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ImagingError.unreadable(path: path, reason: systemReason(path) ?? error.localizedDescription)
        }
        return try decode(bytes: [UInt8](data), path: path)
    }

    /// What the system says when the file is opened ("too many levels of symbolic links"),
    /// in place of Foundation's "NSCocoaErrorDomain error 256".
    static func systemReason(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return String(cString: strerror(errno)).lowercased() }
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR ? "it is a folder, not an image file" : nil
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
