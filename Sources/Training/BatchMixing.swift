import Foundation
import Random

/// `--mixup-alpha` and `--cutmix-alpha`: torchvision's MixUp and CutMix (transforms.v2, as its
/// reference recipe applies them after collating a batch), on a batch of normalized NCHW images.
///
/// Per batch, one of the enabled two is chosen with equal chance (RandomChoice when both),
/// lambda is drawn from Beta(alpha, alpha), and the batch is paired with itself rolled by one
/// (image i with image i - 1, the first with the last). Labels become one-hot rows mixed with
/// the same lambda; CutMix pastes a box of the rolled batch and corrects lambda to the box's
/// true area. Given lambda (and the box), the images and targets are torchvision's float32
/// arithmetic: MixUp `x.roll(1, 0).mul_(1 - lam).add_(x.mul(lam))`.
///
/// The drawing is Graft's own (SplitMix64, not torch's generator), seeded per (seed, epoch,
/// batch, rank): a resumed run and every rank of an mpirun job draw the same as an unbroken run.
public struct BatchMixing: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case mixup, cutmix }

    /// A pasted box, half-open: rows `y1..<y2`, columns `x1..<x2`.
    public struct Box: Sendable, Equatable {
        public var x1, y1, x2, y2: Int
        public init(x1: Int, y1: Int, x2: Int, y2: Int) { self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2 }
    }

    /// One batch's draw: which transform, the drawn lambda (a float32 value, as torchvision's
    /// `float(Beta.sample())`), CutMix's box, and the lambda the targets mix with (CutMix's
    /// corrected to the box's area).
    public struct Draw: Sendable, Equatable {
        public var kind: Kind
        public var lambda: Double
        public var box: Box?
        public var targetLambda: Double
    }

    /// Beta's alpha of each (nil or 0: off).
    public var mixupAlpha: Double?
    public var cutmixAlpha: Double?

    public init(mixupAlpha: Double?, cutmixAlpha: Double?) {
        self.mixupAlpha = mixupAlpha.flatMap { $0 > 0 ? $0 : nil }
        self.cutmixAlpha = cutmixAlpha.flatMap { $0 > 0 ? $0 : nil }
    }

    /// The run's mixing, or nil when neither is on.
    public init?(_ config: TrainConfig) {
        self.init(mixupAlpha: config.mixupAlpha, cutmixAlpha: config.cutmixAlpha)
        if mixupAlpha == nil && cutmixAlpha == nil { return nil }
    }

    /// The draw of batch `batch` of `epoch` on `rank`, for images `height` x `width`.
    public func draw(seed: UInt64, epoch: Int, batch: Int, rank: Int, height: Int, width: Int) -> Draw {
        var rng = SeededRandom(seed: seed, streams: [0x313C, UInt64(epoch), UInt64(batch), UInt64(rank)])
        let kind: Kind
        switch (mixupAlpha, cutmixAlpha) {
        case (_?, _?): kind = rng.unit() < 0.5 ? .mixup : .cutmix
        case (_?, nil): kind = .mixup
        default: kind = .cutmix
        }
        let alpha = kind == .mixup ? mixupAlpha! : cutmixAlpha!
        let lambda = Double(Float(BatchMixing.beta(alpha, &rng)))
        guard kind == .cutmix else { return Draw(kind: .mixup, lambda: lambda, box: nil, targetLambda: lambda) }
        let rx = min(Int(rng.unit() * Double(width)), width - 1), ry = min(Int(rng.unit() * Double(height)), height - 1)
        let box = BatchMixing.box(lambda: lambda, x: rx, y: ry, height: height, width: width)
        return Draw(kind: .cutmix, lambda: lambda, box: box, targetLambda: BatchMixing.area(box, height: height, width: width))
    }

    /// CutMix's box around (x, y) (torchvision's `torch.randint(W)`, `torch.randint(H)`) for lambda:
    /// half-sides `int(0.5 sqrt(1 - lambda) x side)`, clamped to the image.
    public static func box(lambda: Double, x: Int, y: Int, height: Int, width: Int) -> Box {
        let r = 0.5 * (1.0 - lambda).squareRoot()
        let hw = Int(r * Double(width)), hh = Int(r * Double(height))
        return Box(x1: max(x - hw, 0), y1: max(y - hh, 0), x2: min(x + hw, width), y2: min(y + hh, height))
    }

    /// CutMix's corrected lambda: 1 - the box's share of the image.
    public static func area(_ b: Box, height: Int, width: Int) -> Double {
        1.0 - Double((b.x2 - b.x1) * (b.y2 - b.y1)) / Double(width * height)
    }

    /// Applies a draw to `images` (`[batch, channels, height, width]`, in place) and returns the
    /// mixed one-hot targets `[batch, classes]`.
    public static func apply(_ d: Draw, images: inout [Float], labels: [Int], classes: Int, channels: Int = 3,
                             height: Int, width: Int) -> [Float] {
        switch d.kind {
        case .mixup: mixup(&images, batch: labels.count, lambda: d.lambda)
        case .cutmix: cutmix(&images, batch: labels.count, channels: channels, height: height, width: width, box: d.box!)
        }
        return targets(labels, classes: classes, lambda: d.targetLambda)
    }

    /// MixUp: `x.roll(1, 0).mul_(1 - lam).add_(x.mul(lam))` in float32 (each factor rounded to
    /// float32 as torch rounds a Python scalar for a float32 tensor).
    public static func mixup(_ x: inout [Float], batch: Int, lambda: Double) {
        guard batch > 0 else { return }
        let per = x.count / batch
        let lam = Float(lambda), rest = Float(1.0 - lambda)
        let original = x
        original.withUnsafeBufferPointer { src in
            x.withUnsafeMutableBufferPointer { dst in
                for i in 0..<batch {
                    let j = (i + batch - 1) % batch   // roll(1, 0): row i reads row i - 1
                    for e in 0..<per {
                        let a = src[j * per + e] * rest
                        let b = src[i * per + e] * lam
                        dst[i * per + e] = a + b
                    }
                }
            }
        }
    }

    /// CutMix: `out[..., y1:y2, x1:x2] = x.roll(1, 0)[..., y1:y2, x1:x2]`.
    public static func cutmix(_ x: inout [Float], batch: Int, channels: Int, height: Int, width: Int, box: Box) {
        guard batch > 0, box.x2 > box.x1, box.y2 > box.y1 else { return }
        let original = x
        let plane = height * width, per = channels * plane
        for i in 0..<batch {
            let j = (i + batch - 1) % batch
            for c in 0..<channels {
                for y in box.y1..<box.y2 {
                    let row = c * plane + y * width
                    for xx in box.x1..<box.x2 { x[i * per + row + xx] = original[j * per + row + xx] }
                }
            }
        }
    }

    /// One-hot rows mixed as torchvision mixes them: `t.roll(1, 0).mul_(1 - lam).add_(t.mul(lam))`.
    public static func targets(_ labels: [Int], classes: Int, lambda: Double) -> [Float] {
        let n = labels.count
        let lam = Float(lambda), rest = Float(1.0 - lambda)
        var out = [Float](repeating: 0, count: n * classes)
        for i in 0..<n {
            let j = (i + n - 1) % n
            for c in 0..<classes {
                let rolled: Float = labels[j] == c ? 1 : 0, own: Float = labels[i] == c ? 1 : 0
                out[i * classes + c] = rolled * rest + own * lam
            }
        }
        return out
    }

    // MARK: - Drawing

    /// Beta(a, a) as X / (X + Y) of two Gamma(a) draws (torch's Dirichlet([a, a])[0] does the same).
    static func beta(_ a: Double, _ rng: inout SeededRandom) -> Double {
        let x = gamma(a, &rng), y = gamma(a, &rng)
        return x + y > 0 ? x / (x + y) : (rng.unit() < 0.5 ? 0 : 1)
    }

    /// Gamma(a, 1): Marsaglia and Tsang's method; for a < 1, Gamma(a + 1) x U^(1/a).
    static func gamma(_ a: Double, _ rng: inout SeededRandom) -> Double {
        if a < 1 {
            let u = 1 - rng.unit()   // (0, 1]
            return gamma(a + 1, &rng) * pow(u, 1 / a)
        }
        let d = a - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0, v = 0.0
            repeat {
                x = normal(&rng)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = 1 - rng.unit()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// A standard normal draw (Box-Muller).
    static func normal(_ rng: inout SeededRandom) -> Double {
        let u1 = 1 - rng.unit(), u2 = rng.unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
