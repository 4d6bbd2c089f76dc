import Foundation

/// What a cross-entropy loss compares the logits with: class indices (`CrossEntropyLoss`'s
/// usual target), or a probability row per sample (`[batch, classes]`, row-major: the soft
/// targets of mixup and cutmix, as torch's `F.cross_entropy` with a floating-point target).
public enum CrossEntropyTargets: Sendable {
    case labels([Int])
    case probabilities([Float])
}

/// `torch.nn.CrossEntropyLoss(weight:label_smoothing:)` with mean reduction, on row-major logits
/// `[batch, classes]`: the loss and its gradient with respect to the logits.
///
/// Both kinds of target are one sum, as torch computes them: with the smoothed targets
/// `t[i, c] = (1 - eps) q[i, c] + eps / K` (q one-hot for class indices) and class weights w
/// (`finetune --class-weights`; all 1 without), the loss is `sum_i sum_c w[c] t[i, c] (-log p[i, c]) / D`.
/// D differs: for class indices with weights it is W, the sum of the weights of the batch's
/// targets (torch's weighted mean of the NLL, the smoothing term divided by the same W); without
/// weights, and for probability targets with or without them, it is the batch size (torch's
/// `cross_entropy` with probabilities divides by N whatever the weights). The gradient at the
/// logits is `(p[i, c] sum_j w[j] t[i, j] - w[c] t[i, c]) / D`.
public enum SoftmaxCrossEntropyLoss {
    public static func lossAndGradient(logits: [Float], labels: [Int], classes: Int,
                                       labelSmoothing: Float = 0, weights: [Float]? = nil) throws -> (loss: Float, gradient: [Float]) {
        try lossAndGradient(logits: logits, targets: .labels(labels), classes: classes, labelSmoothing: labelSmoothing, weights: weights)
    }

    public static func lossAndGradient(logits: [Float], targets: CrossEntropyTargets, classes: Int,
                                       labelSmoothing: Float = 0, weights: [Float]? = nil) throws -> (loss: Float, gradient: [Float]) {
        let n: Int
        switch targets {
        case .labels(let labels): n = labels.count
        case .probabilities(let q): n = classes > 0 ? q.count / classes : 0
            guard q.count == n * classes else {
                throw EngineError.shapeMismatch(op: "cross entropy", expected: "rows of \(classes) target probabilities", actual: "\(q.count)")
            }
            if let bad = q.first(where: { !$0.isFinite }) {
                throw EngineError.invalidArgument(op: "cross entropy", what: "target probability \(bad) is not finite")
            }
        }
        guard n > 0, classes > 0, logits.count == n * classes else {
            throw EngineError.shapeMismatch(op: "cross entropy", expected: "\(n) x \(classes) logits", actual: "\(logits.count)")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw EngineError.invalidArgument(op: "cross entropy", what: "label smoothing \(labelSmoothing) must be in [0, 1]")
        }
        if case .labels(let labels) = targets, let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw EngineError.invalidArgument(op: "cross entropy", what: "label \(bad) is outside 0..<\(classes)")
        }
        var w = [Double](repeating: 1, count: classes)
        var divisor = Double(n)
        if let weights {
            guard weights.count == classes else {
                throw EngineError.shapeMismatch(op: "cross entropy", expected: "\(classes) class weights", actual: "\(weights.count)")
            }
            if let bad = weights.first(where: { !($0 >= 0) || !$0.isFinite }) {
                throw EngineError.invalidArgument(op: "cross entropy", what: "class weight \(bad) must be finite and not negative")
            }
            w = weights.map(Double.init)
            if case .labels(let labels) = targets {
                divisor = labels.reduce(0.0) { $0 + w[$1] }
                guard divisor > 0 else {
                    throw EngineError.invalidArgument(op: "cross entropy", what: "the batch's targets have class weights summing to 0")
                }
            }
        }
        let eps = Double(labelSmoothing), k = Double(classes)
        var grad = [Float](repeating: 0, count: logits.count)
        var t = [Double](repeating: 0, count: classes)
        var total = 0.0
        for r in 0..<n {
            let base = r * classes
            // The row's smoothed target.
            switch targets {
            case .labels(let labels):
                for c in 0..<classes { t[c] = (c == labels[r] ? 1 - eps : 0) + eps / k }
            case .probabilities(let q):
                for c in 0..<classes { t[c] = (1 - eps) * Double(q[base + c]) + eps / k }
            }
            var m = -Double.infinity
            for c in 0..<classes { m = max(m, Double(logits[base + c])) }
            var sum = 0.0
            for c in 0..<classes { sum += exp(Double(logits[base + c]) - m) }
            let logSum = m + log(sum)
            var weightedTarget = 0.0
            for c in 0..<classes { weightedTarget += w[c] * t[c] }
            for c in 0..<classes {
                let logp = Double(logits[base + c]) - logSum
                total -= w[c] * t[c] * logp
                grad[base + c] = Float((exp(logp) * weightedTarget - w[c] * t[c]) / divisor)
            }
        }
        return (Float(total / divisor), grad)
    }
}
