import Foundation

/// torchvision's `RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3/4, 4/3))`: the same
/// 10-try box sampling and center-crop fallback (`get_params`), then the crop resized with
/// PIL's antialiased bilinear filter, as `F.resized_crop` does on a PIL image. The random
/// numbers come from the caller's generator (not torch's), so boxes differ from a torch run
/// with the same seed, but their distribution is the same.
public struct RandomResizedCrop: Equatable, Sendable {
    public var size: Int
    public var scale: (Double, Double) { (scaleMin, scaleMax) }
    public var scaleMin = 0.08, scaleMax = 1.0
    public var ratioMin = 3.0 / 4.0, ratioMax = 4.0 / 3.0

    public init(size: Int) { self.size = size }

    /// The crop box `(top, left, height, width)` for an image of `width` x `height`;
    /// `uniform(lo, hi)` draws a uniform number in [lo, hi).
    public func box(width: Int, height: Int, uniform: (Double, Double) -> Double) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(height * width)
        let logRatio = (Foundation.log(ratioMin), Foundation.log(ratioMax))
        for _ in 0..<10 {
            let targetArea = area * uniform(scaleMin, scaleMax)
            let aspect = Foundation.exp(uniform(logRatio.0, logRatio.1))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if 0 < w && w <= width && 0 < h && h <= height {
                // torch.randint(0, n + 1): uniform over 0...n
                let i = min(Int(uniform(0, Double(height - h + 1))), height - h)
                let j = min(Int(uniform(0, Double(width - w + 1))), width - w)
                return (i, j, h, w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratioMin {
            h = Int((Double(w) / ratioMin).rounded(.toNearestOrEven))
        } else if inRatio > ratioMax {
            w = Int((Double(h) * ratioMax).rounded(.toNearestOrEven))
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    public func apply(_ image: RGBImage, uniform: (Double, Double) -> Double) throws -> RGBImage {
        let b = box(width: image.width, height: image.height, uniform: uniform)
        return try image.resizedCrop(top: b.top, left: b.left, height: b.height, width: b.width, outWidth: size, outHeight: size)
    }

    public static func == (a: RandomResizedCrop, b: RandomResizedCrop) -> Bool {
        a.size == b.size && a.scaleMin == b.scaleMin && a.scaleMax == b.scaleMax && a.ratioMin == b.ratioMin && a.ratioMax == b.ratioMax
    }
}
