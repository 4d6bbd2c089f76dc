import Imaging

/// The training augmentations beyond RandomResizedCrop + RandomHorizontalFlip (issue 24), in
/// torchvision's reference order: RandomResizedCrop, RandomHorizontalFlip, [RandomRotation],
/// [ColorJitter], [auto-augment policy], to tensor, Normalize, [RandomErasing]. Saved in
/// metrics.json's config; absent there (runs made before it existed) is none of them.
public struct Augmentation: Codable, Equatable, Sendable {
    /// `--auto-augment`, with the torchvision reference's names.
    public enum Policy: String, Codable, CaseIterable, Sendable {
        /// TrivialAugmentWide(num_magnitude_bins=31).
        case taWide = "ta_wide"
        /// RandAugment(num_ops=--ra-num-ops, magnitude=--ra-magnitude, num_magnitude_bins=31).
        case ra
        /// AutoAugment(AutoAugmentPolicy.IMAGENET).
        case imagenet
    }

    public var autoAugment: Policy?
    /// RandAugment's magnitude bin (0...30) and ops per image; read only with `.ra`.
    public var raMagnitude: Int = 9
    public var raNumOps: Int = 2
    /// ColorJitter's brightness, contrast, saturation, hue (torchvision's single-number form).
    public var colorJitter: [Double]?
    /// RandomRotation(degrees): an angle uniform in [-degrees, degrees].
    public var rotation: Double?
    /// RandomErasing(p) on the normalised tensor (scale 0.02-0.33, ratio 0.3-3.3, value 0).
    public var randomErase: Double?

    public init(autoAugment: Policy? = nil, raMagnitude: Int = 9, raNumOps: Int = 2, colorJitter: [Double]? = nil,
                rotation: Double? = nil, randomErase: Double? = nil) {
        self.autoAugment = autoAugment
        self.raMagnitude = raMagnitude
        self.raNumOps = raNumOps
        self.colorJitter = colorJitter
        self.rotation = rotation
        self.randomErase = randomErase
    }

    /// No augmentation beyond crop and flip.
    public var isEmpty: Bool { autoAugment == nil && colorJitter == nil && rotation == nil && randomErase == nil }

    /// The auto-augment policy as Imaging runs it.
    public var policy: AugmentPolicy? {
        switch autoAugment {
        case nil: return nil
        case .taWide: return .trivialAugmentWide(bins: 31)
        case .ra: return .randAugment(numOps: raNumOps, magnitude: raMagnitude, bins: 31)
        case .imagenet: return .imagenet
        }
    }

    /// ColorJitter from `colorJitter` (missing trailing values are 0: off).
    public func jitter() throws -> ColorJitter? {
        guard let v = colorJitter else { return nil }
        let f = v + [Double](repeating: 0, count: max(0, 4 - v.count))
        return try ColorJitter(brightness: f[0], contrast: f[1], saturation: f[2], hue: f[3])
    }

    /// A problem with the values, as one line naming the option; nil when they are usable.
    public var problem: String? {
        if let m = autoAugment, m == .ra {
            if !(0...30).contains(raMagnitude) { return "--ra-magnitude must be in 0...30 (RandAugment's 31 bins), got \(raMagnitude)" }
            if raNumOps < 1 || raNumOps > 16 { return "--ra-num-ops must be in 1...16, got \(raNumOps)" }
        }
        if let v = colorJitter {
            if v.isEmpty || v.count > 4 { return "--color-jitter takes 1 to 4 numbers B[,C,S,H], got \(v.count)" }
            if v.contains(where: { !$0.isFinite || $0 < 0 }) { return "--color-jitter's values must be non-negative numbers, got \(v)" }
            if v.count == 4 && v[3] > 0.5 { return "--color-jitter's hue must be at most 0.5 (hue shifts by at most half the colour wheel), got \(v[3])" }
        }
        if let r = rotation, !(r.isFinite && r > 0 && r <= 180) { return "--rotation must be in (0, 180] degrees (0: none), got \(r)" }
        if let p = randomErase, !(p.isFinite && p > 0 && p <= 1) { return "--random-erase must be a probability in (0, 1] (0: none), got \(p)" }
        return nil
    }

    /// The option line of a run description: "--auto-augment ra --ra-magnitude 9 ...".
    public var commandLine: String {
        var parts: [String] = []
        if let r = rotation { parts.append("--rotation \(r)") }
        if let v = colorJitter { parts.append("--color-jitter " + v.map { "\($0)" }.joined(separator: ",")) }
        if let m = autoAugment {
            parts.append("--auto-augment \(m.rawValue)")
            if m == .ra { parts.append("--ra-num-ops \(raNumOps) --ra-magnitude \(raMagnitude)") }
        }
        if let p = randomErase { parts.append("--random-erase \(p)") }
        return parts.isEmpty ? "none" : parts.joined(separator: " ")
    }

    /// The 8-bit augmentations after crop and flip, drawing from the sample's generator.
    func apply<R: RandomSource>(_ image: RGBImage, using random: inout R) throws -> RGBImage {
        var img = image
        if let d = rotation { img = RandomRotation(degrees: d).apply(img, using: &random) }
        if let j = try jitter() { img = j.apply(img, using: &random) }
        if let p = policy { img = p.apply(img, using: &random) }
        return img
    }

    /// RandomErasing on one normalised CHW image, when asked for.
    func erase<R: RandomSource>(_ chw: UnsafeMutableBufferPointer<Float>, size: Int, using random: inout R) {
        guard let p = randomErase else { return }
        RandomErasing(p: p).apply(chw, channels: 3, height: size, width: size, using: &random)
    }
}
