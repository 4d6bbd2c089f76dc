import Random

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

/// Graft's seeded generator drives the random transforms.
extension SeededRandom: RandomSource {
    public mutating func uniform(_ low: Double, _ high: Double) -> Float {
        let value = Float(low + (high - low) * Double(rand()))
        return value < Float(high) ? value : Float(low)
    }

    public mutating func randint(_ low: Int, _ high: Int) -> Int {
        high > low ? Int.random(in: low..<high, using: &self) : low
    }
}
