import Foundation

/// torchvision's `RandomResizedCrop(size, scale, ratio)` for PIL images: the 10-try
/// `get_params` algorithm with its central-crop fallback, then `F.resized_crop`
/// (crop, then PIL antialiased bilinear resize).
public struct RandomResizedCrop: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>

    public init(size: Int, scale: ClosedRange<Double> = 0.08...1.0,
                ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0)) {
        self.width = size
        self.height = size
        self.scale = scale
        self.ratio = ratio
    }

    /// The crop `get_params` picks for an image of the given size: (top, left, height, width).
    public func parameters<R: RandomSource>(width: Int, height: Int, using random: inout R)
        -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(height * width)
        // torch.log(torch.tensor(ratio)): float32
        let logLow = Double(Foundation.log(Float(ratio.lowerBound)))
        let logHigh = Double(Foundation.log(Float(ratio.upperBound)))
        for _ in 0..<10 {
            let targetArea = area * Double(random.uniform(scale.lowerBound, scale.upperBound))
            let aspect = Double(Foundation.exp(random.uniform(logLow, logHigh)))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = random.randint(0, height - h + 1)
                let left = random.randint(0, width - w + 1)
                return (top, left, h, w)
            }
        }
        // Fallback to a central crop
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return (floorDiv(height - h, 2), floorDiv(width - w, 2), h, w)
    }

    /// The transformed image.
    public func apply<R: RandomSource>(_ image: RGBImage, using random: inout R) throws -> RGBImage {
        let p = parameters(width: image.width, height: image.height, using: &random)
        return try image.resizedCrop(top: p.top, left: p.left, height: p.height, width: p.width,
                                     outWidth: width, outHeight: height)
    }
}

/// torchvision's `RandomHorizontalFlip(p)`: flips when `torch.rand(1) < p`.
public struct RandomHorizontalFlip: Equatable, Sendable {
    public var p: Float
    public init(p: Float = 0.5) { self.p = p }

    public func apply<R: RandomSource>(_ image: RGBImage, using random: inout R) -> RGBImage {
        random.rand() < p ? image.flippedHorizontally() : image
    }
}

/// torchvision's training pipeline,
/// `Compose([RandomResizedCrop(size), RandomHorizontalFlip(), ToTensor(), Normalize(...)])`.
public struct TrainTransform: Equatable, Sendable {
    public var crop: RandomResizedCrop
    public var flip: RandomHorizontalFlip
    public var normalization: Normalization

    public init(size: Int = 224, normalization: Normalization = .imagenet) {
        crop = RandomResizedCrop(size: size)
        flip = RandomHorizontalFlip()
        self.normalization = normalization
    }

    /// Floats per image: 3 * height * width of the crop.
    public var tensorCount: Int { 3 * crop.width * crop.height }

    /// Writes the CHW tensor of a randomly cropped and flipped `image` into `out`.
    public func write<R: RandomSource>(_ image: RGBImage, into out: UnsafeMutableBufferPointer<Float>,
                                       using random: inout R) throws {
        let cropped = try crop.apply(image, using: &random)
        try normalization.write(flip.apply(cropped, using: &random), into: out)
    }
}

/// Python's `//` for a positive divisor.
private func floorDiv(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
