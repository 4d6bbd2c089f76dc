/// A small, fast, seedable random generator (SplitMix64): the same seed gives the same
/// shuffles, splits and augmentations on every run. Its state is one UInt64, saved with
/// `--resume` checkpoints.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one purpose (`stream`) of one run (`seed`), independent of the others:
    /// the augmentation of sample 7 in epoch 2 never depends on thread scheduling.
    public init(seed: UInt64, stream: UInt64...) {
        var s = SeededRandom(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        for v in stream { s = SeededRandom(seed: s.next() ^ v &* 0xD6E8_FEB8_6659_FD93) }
        state = s.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) * 0x1.0p-53
    }
}
