import Foundation

/// torchvision's `transforms.RandomRotation(degrees, interpolation (NEAREST by default), expand=False, center=None, fill)`
/// on PIL images: the angle is drawn `torch.empty(1).uniform_(-degrees, degrees)` (a float32), then
/// `F.rotate` (`Geometry.rotate`).
public struct RandomRotation: Equatable, Sendable {
    public var degrees: Double
    public var fill: [UInt8]
    public var interpolation: Geometry.Interpolation

    public init(degrees: Double, fill: [UInt8] = [0, 0, 0], interpolation: Geometry.Interpolation = .nearest) {
        precondition(degrees >= 0, "RandomRotation: degrees must be non-negative (torchvision raises), got \(degrees)")
        precondition(fill.count == 1 || fill.count == 3, "RandomRotation: fill is one value or three")
        self.degrees = degrees
        self.fill = fill
        self.interpolation = interpolation
    }

    /// The angle `get_params` draws, in degrees.
    public func angle<R: RandomSource>(using random: inout R) -> Double {
        Double(random.uniform(-degrees, degrees))
    }

    public func apply<R: RandomSource>(_ image: RGBImage, using random: inout R) -> RGBImage {
        Geometry.rotate(image, angle: angle(using: &random), fill: fill, interpolation: interpolation)
    }
}

/// torchvision's `transforms.RandomErasing(p, scale, ratio, value, inplace)` on the normalised CHW float
/// image (torchvision's recipe applies it after Normalize): with probability p (`torch.rand(1) < p`) a
/// box of `get_params`' 10 tries (area fraction uniform in `scale`, aspect exp(uniform(log ratio)), kept
/// when strictly smaller than the image) is set to `value`; when no try fits, nothing changes.
/// `value="random"` (per-pixel normal draws) is not offered.
public struct RandomErasing: Equatable, Sendable {
    public var p: Double
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>
    public var value: Float

    public init(p: Double = 0.5, scale: ClosedRange<Double> = 0.02...0.33, ratio: ClosedRange<Double> = 0.3...3.3,
                value: Float = 0) {
        precondition((0...1).contains(p), "RandomErasing: p must be in [0, 1] (torchvision raises), got \(p)")
        precondition(scale.lowerBound >= 0 && scale.upperBound <= 1,
                     "RandomErasing: scale must lie in [0, 1] (torchvision raises), got \(scale)")
        precondition(ratio.lowerBound > 0, "RandomErasing: ratio must be positive, got \(ratio)")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
    }

    /// `get_params`' box for an image of the given size, (top, left, height, width), drawing as torchvision
    /// does; nil when none of the 10 tries fits (torchvision then returns the image unchanged).
    public func box<R: RandomSource>(height: Int, width: Int, using random: inout R)
        -> (top: Int, left: Int, height: Int, width: Int)? {
        let area = Double(height * width)
        // torch.log(torch.tensor(ratio)): float32
        let logLow = Double(Foundation.log(Float(ratio.lowerBound)))
        let logHigh = Double(Foundation.log(Float(ratio.upperBound)))
        for _ in 0..<10 {
            let eraseArea = area * Double(random.uniform(scale.lowerBound, scale.upperBound))
            let aspect = Double(Foundation.exp(random.uniform(logLow, logHigh)))
            let h = Int((eraseArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((eraseArea / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width else { continue }
            let top = random.randint(0, height - h + 1)
            let left = random.randint(0, width - w + 1)
            return (top, left, h, w)
        }
        return nil
    }

    /// Erases in place: `chw` holds `channels * height * width` floats, channel-major.
    public func apply<R: RandomSource>(_ chw: UnsafeMutableBufferPointer<Float>, channels: Int, height: Int, width: Int,
                                       using random: inout R) {
        precondition(chw.count == channels * height * width,
                     "RandomErasing: \(chw.count) floats are not \(channels)x\(height)x\(width)")
        guard random.rand() < Float(p), let b = box(height: height, width: width, using: &random) else { return }
        for c in 0..<channels {
            for y in b.top..<(b.top + b.height) {
                let row = (c * height + y) * width + b.left
                for x in 0..<b.width { chw[row + x] = value }
            }
        }
    }
}
