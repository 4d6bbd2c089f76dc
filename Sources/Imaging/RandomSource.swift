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
    /// `torch.randperm(n)` on the CPU: a permutation of 0..<n.
    mutating func randperm(_ n: Int) -> [Int]
}

extension RandomSource {
    /// torch's CPU algorithm for small n, `z = random() % (n - i); swap(i, i + z)`, with each
    /// `random() % (n - i)` drawn as `randint(0, n - i)`.
    public mutating func randperm(_ n: Int) -> [Int] {
        var r = Array(0..<max(0, n))
        if n > 1 {
            for i in 0..<(n - 1) {
                let z = randint(0, n - i)
                r.swapAt(i, i + z)
            }
        }
        return r
    }
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
