/// torchvision's `ToTensor()` then `Normalize(mean, std)`, value for value: each byte is
/// turned into float32, divided by 255 (float32), then `(x - mean) / std` in float32 with
/// mean and std rounded to float32, as `tensor.sub_(mean).div_(std)` computes them.
public struct Normalization: Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    /// ImageNet statistics, torchvision's `Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])`.
    public static let imagenet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Writes `image` as a CHW float32 tensor (3 planes of height*width) into `out`,
    /// which must hold exactly `3 * width * height` floats (e.g. one slot of a batch).
    public func write(_ image: RGBImage, into out: UnsafeMutableBufferPointer<Float>) throws {
        let plane = image.width * image.height
        guard out.count == 3 * plane else {
            throw ImagingError.invalidArgument("normalize: a \(image.width)x\(image.height) image needs \(3 * plane) floats, the buffer holds \(out.count)")
        }
        guard mean.count == 3, std.count == 3 else {
            throw ImagingError.invalidArgument("normalize: need 3 means and 3 stds, got \(mean.count) and \(std.count)")
        }
        image.pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                let m = mean[c], s = std[c], base = c * plane
                for i in 0..<plane {
                    let x = Float(src[3 * i + c]) / Float(255)
                    out[base + i] = (x - m) / s
                }
            }
        }
    }

    /// The CHW float32 tensor of `image` as a new array.
    public func tensor(_ image: RGBImage) throws -> [Float] {
        var out = [Float](repeating: 0, count: 3 * image.width * image.height)
        try out.withUnsafeMutableBufferPointer { try write(image, into: $0) }
        return out
    }
}
