/// torchvision's `transforms.Resize(size)` with an int size: the shorter side becomes
/// `size`, the longer `int(size * long / short)` (truncated), aspect otherwise kept.
public enum ShorterSideResize {
    /// The (width, height) torchvision's `_compute_resized_output_size` picks.
    public static func outputSize(width: Int, height: Int, shorterSide size: Int) -> (width: Int, height: Int) {
        let short = min(width, height), long = max(width, height)
        // Python: int(size * long / short): exact integer product, correctly rounded division.
        let newLong = Int(Double(size * long) / Double(short))
        return width <= height ? (size, newLong) : (newLong, size)
    }
}

extension RGBImage {
    /// `transforms.Resize(size)` on a PIL image (antialiased bilinear;
    /// `interpolation=InterpolationMode.BICUBIC` with `filter: .bicubic`); the image itself
    /// when the size does not change.
    public func resized(shorterSide size: Int, filter: ResampleFilter = .bilinear) throws -> RGBImage {
        guard size > 0, width > 0, height > 0 else {
            throw ImagingError.invalidArgument("resize: cannot bring the shorter side of a \(width)x\(height) image to \(size)")
        }
        let (w, h) = ShorterSideResize.outputSize(width: width, height: height, shorterSide: size)
        if w == width && h == height { return self }
        return try resized(width: w, height: h, filter: filter)
    }
}
