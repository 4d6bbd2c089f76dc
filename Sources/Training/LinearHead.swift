import Engine
import Foundation
import Imaging

/// A Linear layer trained in Swift on pooled features: the head of `--train fc`, where the
/// trunk is frozen and runs as the fused inference graph. Small (C x K), so plain loops.
public final class LinearHead {
    public let weight: Parameter   // [K, C]
    public let bias: Parameter     // [K]
    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }

    public init(weight: Parameter, bias: Parameter) {
        self.weight = weight
        self.bias = bias
    }

    /// A new `nn.Linear(inFeatures, outFeatures)` initialised as PyTorch does by default:
    /// weight and bias uniform in ±1/sqrt(inFeatures).
    public convenience init(name: String, inFeatures: Int, outFeatures: Int, rng: inout SeededRandom) {
        let bound = 1 / Double(inFeatures).squareRoot()
        let w = (0..<(inFeatures * outFeatures)).map { _ in rng.uniform(-bound, bound) }
        let b = (0..<outFeatures).map { _ in rng.uniform(-bound, bound) }
        self.init(weight: Parameter(name: name + ".weight", shape: [outFeatures, inFeatures], values: w),
                  bias: Parameter(name: name + ".bias", shape: [outFeatures], values: b))
    }

    /// y = x Wᵀ + b for `rows` rows of x.
    public func forward(_ x: [Float], rows: Int) -> [Float] {
        let k = outFeatures, c = inFeatures
        var y = [Float](repeating: 0, count: rows * k)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { y in
                for n in 0..<rows {
                    for o in 0..<k {
                        var s: Float = 0
                        let w = weight.value.baseAddress! + o * c, xr = x.baseAddress! + n * c
                        for i in 0..<c { s += xr[i] * w[i] }
                        y[n * k + o] = s + bias.value[o]
                    }
                }
            }
        }
        return y
    }

    /// Accumulates dW = dyᵀ x and db = Σ dy (gradients zeroed by the caller).
    public func backward(input x: [Float], gradOutput dy: [Float], rows: Int) {
        let k = outFeatures, c = inFeatures
        for n in 0..<rows {
            for o in 0..<k {
                let g = dy[n * k + o]
                bias.grad[o] += g
                let w = weight.grad.baseAddress! + o * c
                x.withUnsafeBufferPointer { x in
                    let xr = x.baseAddress! + n * c
                    for i in 0..<c { w[i] += g * xr[i] }
                }
            }
        }
    }
}

/// torch.nn.CrossEntropyLoss (mean over the batch, optional label smoothing) and its gradient
/// with respect to the logits.
public enum CrossEntropy {
    public static func lossAndGradient(logits: [Float], labels: [Int], classes k: Int, smoothing: Float = 0) -> (Float, [Float]) {
        let n = labels.count
        var grad = [Float](repeating: 0, count: logits.count)
        var total: Double = 0
        for r in 0..<n {
            let row = logits[(r * k)..<((r + 1) * k)]
            let m = row.max() ?? 0
            var sum: Float = 0
            for v in row { sum += expf(v - m) }
            let logSum = logf(sum) + m
            var smoothTerm: Float = 0
            for j in 0..<k {
                let logp = logits[r * k + j] - logSum
                smoothTerm -= logp
                let q: Float = (j == labels[r] ? 1 - smoothing : 0) + smoothing / Float(k)
                grad[r * k + j] = (expf(logp) - q) / Float(n)
            }
            let nll = -(logits[r * k + labels[r]] - logSum)
            total += Double((1 - smoothing) * nll + smoothing * smoothTerm / Float(k))
        }
        return (Float(total / Double(max(n, 1))), grad)
    }
}
