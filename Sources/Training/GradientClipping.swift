import Engine

/// `--clip-grad-norm MAX`: torch.nn.utils.clip_grad_norm_(trainable parameters, MAX) before
/// each optimizer step. The total norm is the L2 norm over every trainable gradient together
/// (accumulated in Double); when it exceeds MAX every gradient is multiplied by
/// MAX / (norm + 1e-6), torch's coefficient, which torch clamps to 1 (so nothing changes below
/// MAX). Under mpirun it runs on the averaged gradients, the same on every rank.
public enum GradientClipping {
    /// torch's epsilon in the coefficient's denominator.
    public static let epsilon = 1e-6

    /// The L2 norm over every trainable parameter's gradient.
    public static func totalNorm(_ parameters: [Parameter]) -> Double {
        var sum = 0.0
        for p in parameters where p.trainable {
            let g = p.grad
            for i in 0..<g.count { let x = Double(g[i]); sum += x * x }
        }
        return sum.squareRoot()
    }

    /// Clips the trainable gradients in place; returns the norm they had before.
    @discardableResult
    public static func clip(_ parameters: [Parameter], maxNorm: Double) -> Double {
        let norm = totalNorm(parameters)
        let coefficient = maxNorm / (norm + epsilon)
        guard coefficient < 1 else { return norm }
        let c = Float(coefficient)
        for p in parameters where p.trainable {
            let g = p.grad
            for i in 0..<g.count { g[i] *= c }
        }
        return norm
    }
}
