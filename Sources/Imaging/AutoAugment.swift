import Foundation

/// The operations of torchvision's `autoaugment._apply_op`, named as torchvision names them.
public enum AugmentOp: String, CaseIterable, Sendable, Codable {
    case identity = "Identity", shearX = "ShearX", shearY = "ShearY"
    case translateX = "TranslateX", translateY = "TranslateY", rotate = "Rotate"
    case brightness = "Brightness", color = "Color", contrast = "Contrast", sharpness = "Sharpness"
    case posterize = "Posterize", solarize = "Solarize", autoContrast = "AutoContrast"
    case equalize = "Equalize", invert = "Invert"
}

/// One op with its drawn, signed magnitude: what a policy chose for one image.
public struct AugmentChoice: Equatable, Sendable {
    public var op: AugmentOp
    public var magnitude: Double
    public init(_ op: AugmentOp, _ magnitude: Double) { self.op = op; self.magnitude = magnitude }
}

extension RGBImage {
    /// `_apply_op(img, op_name, magnitude, InterpolationMode.NEAREST, fill)` on a PIL image.
    public func applying(_ op: AugmentOp, magnitude: Double, fill: [UInt8] = [0, 0, 0]) -> RGBImage {
        switch op {
        case .identity: return self
        case .brightness: return adjustingBrightness(1.0 + magnitude)
        case .color: return adjustingSaturation(1.0 + magnitude)
        case .contrast: return adjustingContrast(1.0 + magnitude)
        case .sharpness: return adjustingSharpness(1.0 + magnitude)
        case .posterize: return posterized(bits: Int(magnitude))
        case .solarize: return solarized(threshold: magnitude)
        case .autoContrast: return autocontrasted()
        case .equalize: return equalized()
        case .invert: return inverted()
        // Geometry's F.affine / F.rotate, NEAREST: ShearX/Y shear by math.degrees(atan(magnitude))
        // about (0, 0), TranslateX/Y move by int(magnitude) pixels, Rotate turns by magnitude degrees.
        case .shearX: return Geometry.shearX(self, magnitude: magnitude, fill: fill)
        case .shearY: return Geometry.shearY(self, magnitude: magnitude, fill: fill)
        case .translateX: return Geometry.translateX(self, magnitude: magnitude, fill: fill)
        case .translateY: return Geometry.translateY(self, magnitude: magnitude, fill: fill)
        case .rotate: return Geometry.rotate(self, angle: magnitude, fill: fill)
        }
    }
}

/// torch.linspace(start, end, steps) in float32 as the CPU kernel computes it: a float32 step,
/// the first half counted up from `start`, the second half down from `end`, each value
/// `start + step * i` rounded once (torch's build fuses it into an FMA; in double the product
/// of a float32 and a small integer is exact, so one rounding to float32 gives the same value).
func torchLinspace(_ start: Double, _ end: Double, _ steps: Int) -> [Float] {
    guard steps > 1 else { return steps == 1 ? [Float(start)] : [] }
    let s = Float(start), e = Float(end)
    let step = Double((e - s) / Float(steps - 1))
    let halfway = steps / 2
    return (0..<steps).map { i in
        i < halfway ? Float(Double(s) + step * Double(i)) : Float(Double(e) - step * Double(steps - i - 1))
    }
}

/// `8 - (torch.arange(bins) / ((bins - 1) / divisor)).round().int()`.
func posterizeBits(_ bins: Int, _ divisor: Double) -> [Float] {
    let d = Float(Double(bins - 1) / divisor)
    return (0..<bins).map { Float(8 - Int((Float($0) / d).rounded(.toNearestOrEven))) }
}

/// An op's magnitudes (nil: the op takes none) and whether a random sign applies.
public struct AugmentSpace: Sendable {
    public var ops: [(op: AugmentOp, magnitudes: [Float]?, signed: Bool)]

    /// TrivialAugmentWide's `_augmentation_space(num_bins)`.
    public static func trivialAugmentWide(bins: Int) -> AugmentSpace {
        AugmentSpace(ops: [
            (.identity, nil, false),
            (.shearX, torchLinspace(0, 0.99, bins), true), (.shearY, torchLinspace(0, 0.99, bins), true),
            (.translateX, torchLinspace(0, 32, bins), true), (.translateY, torchLinspace(0, 32, bins), true),
            (.rotate, torchLinspace(0, 135, bins), true),
            (.brightness, torchLinspace(0, 0.99, bins), true), (.color, torchLinspace(0, 0.99, bins), true),
            (.contrast, torchLinspace(0, 0.99, bins), true), (.sharpness, torchLinspace(0, 0.99, bins), true),
            (.posterize, posterizeBits(bins, 6), false), (.solarize, torchLinspace(255, 0, bins), false),
            (.autoContrast, nil, false), (.equalize, nil, false),
        ])
    }

    /// RandAugment's (with Identity, without Invert) and AutoAugment's (without Identity, with
    /// Invert) `_augmentation_space(num_bins, (height, width))`.
    static func randAugment(bins: Int, width: Int, height: Int, identity: Bool) -> AugmentSpace {
        var ops: [(op: AugmentOp, magnitudes: [Float]?, signed: Bool)] = identity ? [(.identity, nil, false)] : []
        ops += [
            (.shearX, torchLinspace(0, 0.3, bins), true), (.shearY, torchLinspace(0, 0.3, bins), true),
            (.translateX, torchLinspace(0, 150.0 / 331.0 * Double(width), bins), true),
            (.translateY, torchLinspace(0, 150.0 / 331.0 * Double(height), bins), true),
            (.rotate, torchLinspace(0, 30, bins), true),
            (.brightness, torchLinspace(0, 0.9, bins), true), (.color, torchLinspace(0, 0.9, bins), true),
            (.contrast, torchLinspace(0, 0.9, bins), true), (.sharpness, torchLinspace(0, 0.9, bins), true),
            (.posterize, posterizeBits(bins, 4), false), (.solarize, torchLinspace(255, 0, bins), false),
            (.autoContrast, nil, false), (.equalize, nil, false),
        ]
        if !identity { ops.append((.invert, nil, false)) }
        return AugmentSpace(ops: ops)
    }

    public func entry(_ op: AugmentOp) -> (op: AugmentOp, magnitudes: [Float]?, signed: Bool)? {
        ops.first { $0.op == op }
    }
}

/// torchvision's automatic augmentation policies on PIL images, interpolation NEAREST.
public enum AugmentPolicy: Equatable, Sendable {
    /// `TrivialAugmentWide(num_magnitude_bins)`.
    case trivialAugmentWide(bins: Int)
    /// `RandAugment(num_ops, magnitude, num_magnitude_bins)`.
    case randAugment(numOps: Int, magnitude: Int, bins: Int)
    /// `AutoAugment(AutoAugmentPolicy.IMAGENET)`.
    case imagenet

    /// AutoAugmentPolicy.IMAGENET's 25 sub-policies: (op, probability, magnitude bin).
    public static let imagenetPolicies: [[(AugmentOp, Double, Int?)]] = [
        [(.posterize, 0.4, 8), (.rotate, 0.6, 9)], [(.solarize, 0.6, 5), (.autoContrast, 0.6, nil)],
        [(.equalize, 0.8, nil), (.equalize, 0.6, nil)], [(.posterize, 0.6, 7), (.posterize, 0.6, 6)],
        [(.equalize, 0.4, nil), (.solarize, 0.2, 4)], [(.equalize, 0.4, nil), (.rotate, 0.8, 8)],
        [(.solarize, 0.6, 3), (.equalize, 0.6, nil)], [(.posterize, 0.8, 5), (.equalize, 1.0, nil)],
        [(.rotate, 0.2, 3), (.solarize, 0.6, 8)], [(.equalize, 0.6, nil), (.posterize, 0.4, 6)],
        [(.rotate, 0.8, 8), (.color, 0.4, 0)], [(.rotate, 0.4, 9), (.equalize, 0.6, nil)],
        [(.equalize, 0.0, nil), (.equalize, 0.8, nil)], [(.invert, 0.6, nil), (.equalize, 1.0, nil)],
        [(.color, 0.6, 4), (.contrast, 1.0, 8)], [(.rotate, 0.8, 8), (.color, 1.0, 2)],
        [(.color, 0.8, 8), (.solarize, 0.8, 7)], [(.sharpness, 0.4, 7), (.invert, 0.6, nil)],
        [(.shearX, 0.6, 5), (.equalize, 1.0, nil)], [(.color, 0.4, 0), (.equalize, 0.6, nil)],
        [(.equalize, 0.4, nil), (.solarize, 0.2, 4)], [(.solarize, 0.6, 5), (.autoContrast, 0.6, nil)],
        [(.invert, 0.6, nil), (.equalize, 1.0, nil)], [(.color, 0.6, 4), (.contrast, 1.0, 8)],
        [(.equalize, 0.8, nil), (.equalize, 0.6, nil)],
    ]

    /// The ops and signed magnitudes the policy draws for an image of this size, drawing
    /// exactly what torchvision's `forward` draws, in its order.
    public func choices<R: RandomSource>(width: Int, height: Int, using random: inout R) -> [AugmentChoice] {
        switch self {
        case .trivialAugmentWide(let bins):
            let space = AugmentSpace.trivialAugmentWide(bins: bins)
            let e = space.ops[random.randint(0, space.ops.count)]
            var m = 0.0
            if let mags = e.magnitudes { m = Double(mags[random.randint(0, mags.count)]) }
            if e.signed && random.randint(0, 2) != 0 { m = -m }
            return [AugmentChoice(e.op, m)]
        case .randAugment(let numOps, let magnitude, let bins):
            let space = AugmentSpace.randAugment(bins: bins, width: width, height: height, identity: true)
            var out: [AugmentChoice] = []
            for _ in 0..<numOps {
                let e = space.ops[random.randint(0, space.ops.count)]
                var m = e.magnitudes.map { Double($0[magnitude]) } ?? 0
                if e.signed && random.randint(0, 2) != 0 { m = -m }
                out.append(AugmentChoice(e.op, m))
            }
            return out
        case .imagenet:
            let space = AugmentSpace.randAugment(bins: 10, width: width, height: height, identity: false)
            let policies = AugmentPolicy.imagenetPolicies
            let id = random.randint(0, policies.count)
            let probs = [random.rand(), random.rand()]
            let signs = [random.randint(0, 2), random.randint(0, 2)]
            var out: [AugmentChoice] = []
            for (i, (op, p, bin)) in policies[id].enumerated() where probs[i] <= Float(p) {
                let e = space.entry(op)!
                var m = bin.map { Double(e.magnitudes![$0]) } ?? 0
                if e.signed && signs[i] == 0 { m = -m }
                out.append(AugmentChoice(op, m))
            }
            return out
        }
    }

    public func apply<R: RandomSource>(_ image: RGBImage, fill: [UInt8] = [0, 0, 0], using random: inout R) -> RGBImage {
        choices(width: image.width, height: image.height, using: &random).reduce(image) {
            $0.applying($1.op, magnitude: $1.magnitude, fill: fill)
        }
    }
}
