/// torchvision's evaluation pipeline,
/// `Compose([Resize(resize, interpolation), CenterCrop(crop), ToTensor(), Normalize(mean, std)])`,
/// applied to `ImageOps.exif_transpose(Image.open(path)).convert("RGB")`.
public struct EvalTransform: Equatable, Sendable {
    public var resize: Int
    public var crop: Int
    public var normalization: Normalization
    /// Resize's `interpolation`: bilinear (torchvision's default) or bicubic (e.g. EfficientNet's weights).
    public var interpolation: ResampleFilter

    public init(resize: Int = 256, crop: Int = 224, normalization: Normalization = .imagenet,
                interpolation: ResampleFilter = .bilinear) {
        self.resize = resize
        self.crop = crop
        self.normalization = normalization
        self.interpolation = interpolation
    }

    /// The resize that goes with a crop when none is given: 256 for 224, scaled with the crop.
    public static func defaultResize(crop: Int) -> Int { Int((Double(crop) * 256 / 224).rounded()) }

    /// Floats per image: 3 * crop * crop.
    public var tensorCount: Int { 3 * crop * crop }

    /// Resize and center crop: the 8-bit image the tensor is made from.
    public func image(_ image: RGBImage) throws -> RGBImage {
        try image.resized(shorterSide: resize, filter: interpolation).centerCropped(width: crop, height: crop)
    }

    /// Writes the CHW tensor of `image` into `out` (exactly `tensorCount` floats).
    public func write(_ image: RGBImage, into out: UnsafeMutableBufferPointer<Float>) throws {
        try normalization.write(self.image(image), into: out)
    }

    /// Decodes the file at `path` and writes its tensor into `out`.
    public func write(path: String, into out: UnsafeMutableBufferPointer<Float>) throws {
        try write(ImageDecoder.decode(path: path), into: out)
    }

    /// The CHW tensor of the image file at `path`.
    public func tensor(path: String) throws -> [Float] {
        try normalization.tensor(image(ImageDecoder.decode(path: path)))
    }
}

/// The default evaluation tensor (Resize(256), CenterCrop(224), ImageNet normalization)
/// of the image file at `path`: 3 x 224 x 224 floats, CHW.
public func evalTensor(path: String) throws -> [Float] {
    try EvalTransform().tensor(path: path)
}
