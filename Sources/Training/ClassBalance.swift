/// `finetune --class-weights`: how each class's loss counts.
public enum ClassWeighting: String, CaseIterable, Codable, Sendable {
    /// Every class counts alike (torch's `weight=None`).
    case unweighted = "none"
    /// scikit-learn's `compute_class_weight("balanced")` on the training split.
    case balanced
}

/// An imbalanced training split: what `--class-weights balanced` and `--sampler balanced` use,
/// and the data summary's warning.
public enum ClassBalance {
    /// Images per class, `classes` of them, from the samples' labels.
    public static func counts(labels: [Int], classes: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for l in labels where counts.indices.contains(l) { counts[l] += 1 }
        return counts
    }

    /// scikit-learn's `compute_class_weight("balanced")`: `n_samples / (n_classes * count_c)`.
    /// A class with no image (never a target) gets 0: it only weighs in label smoothing's term,
    /// where a class no image has is best left out. (scikit-learn refuses such a class.)
    public static func balancedWeights(labels: [Int], classes: Int) -> [Double] {
        let counts = counts(labels: labels, classes: classes)
        let n = Double(counts.reduce(0, +))
        return counts.map { $0 == 0 ? 0 : n / (Double(classes) * Double($0)) }
    }

    /// The ratio above which the data summary warns.
    public static let warningRatio = 3.0

    /// A warning when the largest class has more than `warningRatio` times the images of the
    /// smallest, naming both and the options that counter it; nil otherwise.
    public static func imbalanceWarning(counts: [Int], names: [String]) -> String? {
        guard counts.count == names.count, counts.count > 1,
              let most = counts.indices.max(by: { counts[$0] < counts[$1] }),
              let least = counts.indices.min(by: { counts[$0] < counts[$1] }),
              Double(counts[most]) > warningRatio * Double(counts[least]) else { return nil }
        let ratio = counts[least] == 0 ? "" : String(format: " (%.1fx)", Double(counts[most]) / Double(counts[least]))
        return "the training classes are imbalanced: '\(names[most])' has \(counts[most]) images, '\(names[least])' \(counts[least])\(ratio). "
            + "A model trained on them favours the large classes; --class-weights balanced weighs each class's loss by "
            + "n / (classes x its count), --sampler balanced draws every class about equally often."
    }
}
