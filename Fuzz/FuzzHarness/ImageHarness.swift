import Imaging

/// The image decoders on hostile bytes: `ImageDecoder.decode(bytes:)` (libjpeg-turbo or libpng,
/// the EXIF/XMP orientation, the conversion to RGB), then the eval transform at a small size
/// (resize, centre crop, normalize), bilinear and bicubic, as `predict` runs them. Inputs of
/// the other format are passed over, so each target spends its time on its own decoder.
enum ImageHarness {
    static let transforms = ResampleFilter.allCases.map { EvalTransform(resize: 36, crop: 32, interpolation: $0) }

    static func run(_ bytes: [UInt8], only format: ImageFormat) {
        guard ImageFormat.sniff(bytes) == format else { return }
        let target: FuzzTarget = format == .jpeg ? .jpeg : .png
        let image: RGBImage
        do {
            image = try ImageDecoder.decode(bytes: bytes, path: "fuzz-input")
        } catch {
            if String(describing: error).isEmpty { violated(target, "an error with an empty message: \(error)") }
            return
        }
        guard image.width > 0, image.height > 0, image.pixels.count == image.width * image.height * 3 else {
            violated(target, "decoded \(image.width)x\(image.height) with \(image.pixels.count) bytes")
        }
        for transform in transforms {
            var tensor = [Float](repeating: .nan, count: transform.tensorCount)
            do {
                try tensor.withUnsafeMutableBufferPointer { try transform.write(image, into: $0) }
            } catch {
                // Refusing an image (with a message) is allowed; reading garbage is not.
                if String(describing: error).isEmpty { violated(target, "an error with an empty message: \(error)") }
                return
            }
            if let bad = tensor.firstIndex(where: { !$0.isFinite }) {
                violated(target, "tensor value \(bad) is \(tensor[bad]) after the \(transform.interpolation) eval transform")
            }
        }
    }
}
