import Foundation

/// `torch.nn.CrossEntropyLoss(label_smoothing:)` with mean reduction, on row-major logits
/// `[batch, classes]`: the loss and its gradient with respect to the logits.
public enum SoftmaxCrossEntropyLoss {
    public static func lossAndGradient(logits: [Float], labels: [Int], classes: Int,
                                       labelSmoothing: Float = 0) throws -> (loss: Float, gradient: [Float]) {
        let n = labels.count
        guard n > 0, classes > 0, logits.count == n * classes else {
            throw EngineError.shapeMismatch(op: "cross entropy", expected: "\(labels.count) x \(classes) logits", actual: "\(logits.count)")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw EngineError.invalidArgument(op: "cross entropy", what: "label smoothing \(labelSmoothing) must be in [0, 1]")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw EngineError.invalidArgument(op: "cross entropy", what: "label \(bad) is outside 0..<\(classes)")
        }
        let eps = Double(labelSmoothing)
        var grad = [Float](repeating: 0, count: logits.count)
        var total = 0.0
        for r in 0..<n {
            let base = r * classes
            var m = -Double.infinity
            for c in 0..<classes { m = max(m, Double(logits[base + c])) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(logits[base + c]) - m) }
            let logSum = m + log(sum)
            var meanNLL = 0.0
            for c in 0..<classes {
                let logp = Double(logits[base + c]) - logSum
                meanNLL -= logp
                let target = (c == labels[r] ? 1 - eps : 0) + eps / Double(classes)
                grad[base + c] = Float((exp(logp) - target) / Double(n))
            }
            let nll = -(Double(logits[base + labels[r]]) - logSum)
            total += (1 - eps) * nll + eps * meanNLL / Double(classes)
        }
        return (Float(total / Double(n)), grad)
    }
}
