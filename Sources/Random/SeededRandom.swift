/// The one seeded generator of Graft (SplitMix64): weight initialisation, augmentation, data
/// splits and shuffles all draw from it. It does not reproduce torch's generator; equal seeds
/// give equal sequences on every platform.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one purpose (`stream`) of one run (`seed`), independent of the others:
    /// the augmentation of sample 7 in epoch 2 never depends on thread scheduling or on how
    /// many numbers other samples drew.
    public init(seed: UInt64, stream: UInt64...) { self.init(seed: seed, streams: stream) }

    /// `init(seed:stream:)` with the stream's numbers in an array.
    public init(seed: UInt64, streams stream: [UInt64]) {
        var s = SeededRandom(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
        for v in stream { s = SeededRandom(seed: s.next() ^ (v &* 0xD6E8_FEB8_6659_FD93)) }
        self.init(seed: s.next())
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float32 in [0, 1) from 24 random bits (exact in float32).
    public mutating func rand() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))
    }

    /// A double in [0, 1) from 53 random bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
