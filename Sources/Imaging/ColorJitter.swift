/// torchvision's `ColorJitter(brightness, contrast, saturation, hue)` on PIL images: the four
/// adjustments in the order `torch.randperm(4)` draws, each factor drawn uniformly from its
/// range (brightness, contrast, saturation, hue, in that order) whether or not it is used first.
public struct ColorJitter: Equatable, Sendable {
    public var brightness: ClosedRange<Double>?
    public var contrast: ClosedRange<Double>?
    public var saturation: ClosedRange<Double>?
    public var hue: ClosedRange<Double>?

    /// torchvision's single-number form: brightness, contrast and saturation `b` give
    /// [max(0, 1 - b), 1 + b], hue `h` gives [-h, h] (h <= 0.5); 0 turns an adjustment off.
    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) throws {
        func range(_ v: Double, _ name: String) throws -> ClosedRange<Double>? {
            guard v >= 0, v.isFinite else {
                throw ImagingError.invalidArgument("ColorJitter: \(name) must be a non-negative number, got \(v)")
            }
            return v == 0 ? nil : max(0, 1 - v)...(1 + v)
        }
        self.brightness = try range(brightness, "brightness")
        self.contrast = try range(contrast, "contrast")
        self.saturation = try range(saturation, "saturation")
        guard hue >= 0, hue <= 0.5 else {
            throw ImagingError.invalidArgument("ColorJitter: hue must be in [0, 0.5], got \(hue)")
        }
        self.hue = hue == 0 ? nil : (-hue)...hue
    }

    /// The drawn order (0 brightness, 1 contrast, 2 saturation, 3 hue) and factors.
    public func parameters<R: RandomSource>(using random: inout R)
        -> (order: [Int], brightness: Double?, contrast: Double?, saturation: Double?, hue: Double?) {
        let order = random.randperm(4)
        func draw(_ r: ClosedRange<Double>?) -> Double? {
            r.map { Double(random.uniform($0.lowerBound, $0.upperBound)) }
        }
        let b = draw(brightness), c = draw(contrast), s = draw(saturation), h = draw(hue)
        return (order, b, c, s, h)
    }

    public func apply<R: RandomSource>(_ image: RGBImage, using random: inout R) -> RGBImage {
        let p = parameters(using: &random)
        var img = image
        for fn in p.order {
            switch fn {
            case 0: if let f = p.brightness { img = img.adjustingBrightness(f) }
            case 1: if let f = p.contrast { img = img.adjustingContrast(f) }
            case 2: if let f = p.saturation { img = img.adjustingSaturation(f) }
            default: if let f = p.hue { img = img.adjustingHue(f) }
            }
        }
        return img
    }
}
