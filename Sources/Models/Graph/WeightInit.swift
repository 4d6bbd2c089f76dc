import Foundation
import Random

/// How a model initialises new weights from a seed, drawn from Graft's seeded generator
/// (normals by Box-Muller in Double).
extension SeededRandom {
    /// The weight-initialisation stream of `seed`.
    init(initialisationSeed seed: UInt64) { self.init(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

    /// `count` values uniform in [-bound, bound).
    mutating func uniform(_ count: Int, bound: Double) -> [Float] {
        (0..<count).map { _ in Float((unit() * 2 - 1) * bound) }
    }

    /// `count` values from N(0, std^2).
    mutating func normal(_ count: Int, std: Double) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(count)
        while out.count < count {
            let u1 = max(unit(), 0x1p-60), u2 = unit()
            let r = (-2 * log(u1)).squareRoot()
            out.append(Float(r * cos(2 * .pi * u2) * std))
            if out.count < count { out.append(Float(r * sin(2 * .pi * u2) * std)) }
        }
        return out
    }

    /// torchvision's conv init: `kaiming_normal_(mode="fan_out", nonlinearity="relu")`,
    /// std = sqrt(2 / (out_channels * kh * kw)).
    mutating func kaimingConv(_ shape: [Int]) -> [Float] {
        let fanOut = shape[0] * shape.dropFirst(2).reduce(1, *)
        return normal(shape.reduce(1, *), std: (2.0 / Double(fanOut)).squareRoot())
    }

    /// `nn.Linear`'s default init: weight and bias U(-1/sqrt(in), 1/sqrt(in)).
    mutating func linear(out: Int, in inFeatures: Int) -> (weight: [Float], bias: [Float]) {
        let b = 1 / Double(inFeatures).squareRoot()
        return (uniform(out * inFeatures, bound: b), uniform(out, bound: b))
    }
}
