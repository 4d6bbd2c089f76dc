import Checkpoint
import Foundation

/// How well predictions match true labels, computed exactly as scikit-learn's
/// `confusion_matrix`, `accuracy_score` and `classification_report(labels=range(n),
/// output_dict=True)` compute them (zero_division's default: a ratio whose denominator is 0 is
/// 0.0), plus top-5 accuracy when there are more than 5 classes and probabilities are given.
///
/// - precision = tp / (tp + fp); recall = tp / (tp + fn); F1 = 2·tp / (2·tp + fp + fn), as
///   scikit-learn writes it (0 when a class is neither true nor predicted);
/// - every class `0..<n` is in the table, those with support 0 too, and in the macro average;
/// - the weighted average weights each class by its support.
///
/// A plain value with no I/O: evaluate prints it, and finetune's report can use it.
public struct ClassificationReport: Sendable, Equatable {
    /// One row of the table (or an average: then `support` is the number of samples).
    public struct Scores: Sendable, Equatable {
        public var precision: Double
        public var recall: Double
        public var f1: Double
        public var support: Int
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case countMismatch(labels: Int, predictions: Int, probabilities: Int?)
        case labelOutOfRange(position: Int, label: Int, classes: Int)
        case probabilityRow(position: Int, count: Int, classes: Int)

        public var description: String {
            switch self {
            case let .countMismatch(labels, predictions, probabilities):
                return "\(labels) true labels but \(predictions) predictions"
                    + (probabilities.map { " and \($0) probability rows" } ?? "") + ": give one of each per sample"
            case let .labelOutOfRange(position, label, classes):
                return "sample \(position): class index \(label) is not in 0..<\(classes)"
            case let .probabilityRow(position, count, classes):
                return "sample \(position): \(count) probabilities for \(classes) classes"
            }
        }
    }

    public let classNames: [String]
    /// `confusion[t][p]`: samples of true class t predicted as p, in class-index order.
    public let confusion: [[Int]]
    public let perClass: [Scores]
    public let accuracy: Double
    /// The fraction whose true class is among the 5 most probable (ties: the lower index
    /// first, as torch.topk); nil with 5 classes or fewer, or without probabilities.
    public let top5Accuracy: Double?
    public let macro: Scores
    public let weighted: Scores
    public var count: Int { perClass.reduce(0) { $0 + $1.support } }

    /// torch.argmax: the first index of the largest value.
    public static func argmax(_ row: [Float]) -> Int {
        row.indices.max { row[$0] < row[$1] } ?? 0
    }

    /// From probability rows: the predictions are their argmax.
    public init(classNames: [String], labels: [Int], probabilities: [[Float]]) throws {
        try self.init(classNames: classNames, labels: labels, predictions: probabilities.map(Self.argmax),
                      probabilities: probabilities)
    }

    public init(classNames: [String], labels: [Int], predictions: [Int], probabilities: [[Float]]? = nil) throws {
        let n = classNames.count
        guard labels.count == predictions.count, probabilities.map({ $0.count == labels.count }) ?? true else {
            throw Failure.countMismatch(labels: labels.count, predictions: predictions.count, probabilities: probabilities?.count)
        }
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: n), count: n)
        for (i, (t, p)) in zip(labels, predictions).enumerated() {
            for c in [t, p] where !(0..<n).contains(c) { throw Failure.labelOutOfRange(position: i, label: c, classes: n) }
            confusion[t][p] += 1
        }
        self.classNames = classNames
        self.confusion = confusion
        var rows: [Scores] = []
        for c in 0..<n {
            let tp = confusion[c][c]
            let trueSum = confusion[c].reduce(0, +)
            let predSum = confusion.reduce(0) { $0 + $1[c] }
            rows.append(Scores(precision: Self.ratio(tp, predSum), recall: Self.ratio(tp, trueSum),
                               f1: Self.ratio(2 * tp, trueSum + predSum), support: trueSum))
        }
        perClass = rows
        let total = labels.count
        accuracy = Self.ratio((0..<n).reduce(0) { $0 + confusion[$1][$1] }, total)
        macro = Self.average(rows, weights: nil, support: total)
        weighted = Self.average(rows, weights: rows.map(\.support), support: total)

        if let probabilities, n > 5 {
            var hits = 0
            for (i, row) in probabilities.enumerated() {
                guard row.count == n else { throw Failure.probabilityRow(position: i, count: row.count, classes: n) }
                let top = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(5)
                if top.contains(labels[i]) { hits += 1 }
            }
            top5Accuracy = Self.ratio(hits, total)
        } else {
            top5Accuracy = nil
        }
    }

    /// scikit-learn's `_prf_divide` with zero_division's default: 0 where the denominator is 0.
    static func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

    /// numpy's `average` (sum of w·x over sum of w) or mean; all weights 0: the plain mean, as
    /// scikit-learn's `_nanaverage` falls back to.
    static func average(_ rows: [Scores], weights: [Int]?, support: Int) -> Scores {
        func avg(_ x: [Double]) -> Double {
            guard !x.isEmpty else { return 0 }
            if let w = weights, w.reduce(0, +) > 0 {
                return zip(x, w).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(w.reduce(0, +))
            }
            return x.reduce(0, +) / Double(x.count)
        }
        return Scores(precision: avg(rows.map(\.precision)), recall: avg(rows.map(\.recall)),
                      f1: avg(rows.map(\.f1)), support: support)
    }
}

// MARK: - Text and JSON

extension ClassificationReport {
    /// scikit-learn's `classification_report(..., digits:)` text, line for line. `names`: the
    /// class names as shown (for a terminal: `TerminalText.escaped`), default `classNames`.
    public func text(digits: Int = 4, names: [String]? = nil) -> String {
        let classNames = names ?? self.classNames
        let heading = "weighted avg"
        let width = max(classNames.map { $0.unicodeScalars.count }.max() ?? 0, heading.count, digits)
        func pad(_ s: String, _ w: Int) -> String {
            let n = s.unicodeScalars.count
            return n >= w ? s : String(repeating: " ", count: w - n) + s
        }
        func number(_ x: Double) -> String { pad(String(format: "%.\(digits)f", x), 9) }
        func row(_ name: String, _ s: Scores) -> String {
            pad(name, width) + " " + [number(s.precision), number(s.recall), number(s.f1), pad(String(s.support), 9)]
                .map { " " + $0 }.joined() + "\n"
        }
        var out = pad("", width) + " " + ["precision", "recall", "f1-score", "support"].map { " " + pad($0, 9) }.joined() + "\n\n"
        for (name, s) in zip(classNames, perClass) { out += row(name, s) }
        out += "\n"
        out += pad("accuracy", width) + " " + " " + pad("", 9) + " " + pad("", 9) + " " + number(accuracy)
            + " " + pad(String(count), 9) + "\n"
        out += row("macro avg", macro)
        out += row("weighted avg", weighted)
        return out
    }

    /// The confusion matrix with class names: rows are true classes, columns predicted ones.
    /// `only`: the class indices to show (default: all); `names` as for `text`.
    public func confusionText(only: [Int]? = nil, names: [String]? = nil) -> String {
        let classNames = names ?? self.classNames
        let shown = only ?? Array(classNames.indices)
        let nameWidth = max(shown.map { classNames[$0].unicodeScalars.count }.max() ?? 0, "true \\ predicted".count)
        let cellWidth = max(shown.map { classNames[$0].unicodeScalars.count }.max() ?? 0,
                            String(confusion.flatMap { $0 }.max() ?? 0).count)
        func right(_ s: String, _ w: Int) -> String {
            let n = s.unicodeScalars.count
            return n >= w ? s : String(repeating: " ", count: w - n) + s
        }
        func left(_ s: String, _ w: Int) -> String {
            let n = s.unicodeScalars.count
            return n >= w ? s : s + String(repeating: " ", count: w - n)
        }
        var lines = [left("true \\ predicted", nameWidth) + shown.map { "  " + right(classNames[$0], cellWidth) }.joined()]
        for t in shown {
            lines.append(left(classNames[t], nameWidth) + shown.map { "  " + right(String(confusion[t][$0]), cellWidth) }.joined())
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One JSON object: `classes`, `count`, `accuracy`, `top5_accuracy` (when it applies),
    /// `report` (scikit-learn's `output_dict`: per class name, then "accuracy", "macro avg",
    /// "weighted avg") and `confusion_matrix`. `extra`: members (name, JSON text) put first.
    public func json(extra: [(String, String)] = []) -> String {
        func num(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        func str(_ s: String) -> String { PythonFormat.jsonString(s, asciiOnly: false) }
        func scores(_ s: Scores) -> String {
            "{\"precision\": \(num(s.precision)), \"recall\": \(num(s.recall)), \"f1-score\": \(num(s.f1)), \"support\": \(s.support)}"
        }
        var members = extra.map { "\(str($0.0)): \($0.1)" }
        members.append("\"classes\": [\(classNames.map(str).joined(separator: ", "))]")
        members.append("\"count\": \(count)")
        members.append("\"accuracy\": \(num(accuracy))")
        if let top5Accuracy { members.append("\"top5_accuracy\": \(num(top5Accuracy))") }
        var report = zip(classNames, perClass).map { "\(str($0.0)): \(scores($0.1))" }
        report.append("\"accuracy\": \(num(accuracy))")
        report.append("\"macro avg\": \(scores(macro))")
        report.append("\"weighted avg\": \(scores(weighted))")
        members.append("\"report\": {\(report.joined(separator: ", "))}")
        members.append("\"confusion_matrix\": [\(confusion.map { "[\($0.map(String.init).joined(separator: ", "))]" }.joined(separator: ", "))]")
        return "{" + members.joined(separator: ", ") + "}"
    }
}
