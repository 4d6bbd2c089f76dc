/// The random draws torchvision's random transforms make, one method per torch call, so
/// a transform can be replayed from recorded draws (tests) or driven by a seeded generator.
public protocol RandomSource {
    /// `torch.empty(1).uniform_(low, high).item()`: a float32 in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Float
    /// `torch.randint(low, high, (1,)).item()`: an integer in low..<high.
    mutating func randint(_ low: Int, _ high: Int) -> Int
    /// `torch.rand(1).item()`: a float32 in [0, 1).
    mutating func rand() -> Float
}

/// A small, fast, seedable generator (SplitMix64) implementing `RandomSource`. It does not
/// reproduce torch's generator; equal seeds give equal sequences on every platform.
public struct SeededRandom: RandomSource, RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func rand() -> Float {
        Float(next() >> 40) * (1.0 / Float(1 << 24))  // 24 random bits: exact in float32
    }

    public mutating func uniform(_ low: Double, _ high: Double) -> Float {
        let value = Float(low + (high - low) * Double(rand()))
        return value < Float(high) ? value : Float(low)
    }

    public mutating func randint(_ low: Int, _ high: Int) -> Int {
        high > low ? Int.random(in: low..<high, using: &self) : low
    }
}
