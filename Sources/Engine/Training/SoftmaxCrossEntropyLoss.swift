import Foundation

/// `torch.nn.CrossEntropyLoss(weight:label_smoothing:)` with mean reduction, on row-major logits
/// `[batch, classes]`: the loss and its gradient with respect to the logits.
///
/// With class `weights` w (`finetune --class-weights`), as torch computes it: with W the sum of
/// the weights of the batch's targets, the loss is
/// `[(1 - eps) sum_i w[y_i] (-log p[i, y_i]) + (eps / K) sum_i sum_c w[c] (-log p[i, c])] / W`:
/// the weighted mean of the NLL, and the smoothing term weighted per class and divided by the
/// same W.
public enum SoftmaxCrossEntropyLoss {
    public static func lossAndGradient(logits: [Float], labels: [Int], classes: Int,
                                       labelSmoothing: Float = 0, weights: [Float]? = nil) throws -> (loss: Float, gradient: [Float]) {
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
        if let weights {
            return try weighted(logits: logits, labels: labels, classes: classes, labelSmoothing: labelSmoothing, weights: weights)
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

    /// The loss with class weights (checked: one per class, none negative, the targets' sum > 0).
    private static func weighted(logits: [Float], labels: [Int], classes: Int, labelSmoothing: Float,
                                 weights: [Float]) throws -> (loss: Float, gradient: [Float]) {
        guard weights.count == classes else {
            throw EngineError.shapeMismatch(op: "cross entropy", expected: "\(classes) class weights", actual: "\(weights.count)")
        }
        if let bad = weights.first(where: { !($0 >= 0) || !$0.isFinite }) {
            throw EngineError.invalidArgument(op: "cross entropy", what: "class weight \(bad) must be finite and not negative")
        }
        let w = weights.map(Double.init)
        let total = labels.reduce(0.0) { $0 + w[$1] }
        guard total > 0 else {
            throw EngineError.invalidArgument(op: "cross entropy", what: "the batch's targets have class weights summing to 0")
        }
        let n = labels.count, eps = Double(labelSmoothing), k = Double(classes)
        let sumW = w.reduce(0, +)
        var grad = [Float](repeating: 0, count: logits.count)
        var nllSum = 0.0, smoothSum = 0.0
        for r in 0..<n {
            let base = r * classes, y = labels[r]
            var m = -Double.infinity
            for c in 0..<classes { m = max(m, Double(logits[base + c])) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(logits[base + c]) - m) }
            let logSum = m + log(sum)
            for c in 0..<classes {
                let logp = Double(logits[base + c]) - logSum, p = exp(logp)
                smoothSum -= w[c] * logp
                // d/dz: (1 - eps) w[y] (p - [c == y]) + (eps / K) (sum_j w[j] p - w[c]), over W.
                let nllGrad = w[y] * (p - (c == y ? 1 : 0))
                grad[base + c] = Float(((1 - eps) * nllGrad + eps / k * (sumW * p - w[c])) / total)
            }
            nllSum += w[y] * -(Double(logits[base + y]) - logSum)
        }
        return (Float(((1 - eps) * nllSum + eps / k * smoothSum) / total), grad)
    }
}
