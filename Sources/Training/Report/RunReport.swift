import Engine
import Foundation
import HTMLReport
import Inference

/// Everything report.html shows, gathered from a trainer after an epoch: the run, the
/// per-epoch figures, the saved model's figures on val and its most confident mistakes, and
/// the warnings. A plain value: `html` (ReportHTML.swift) turns it into the page.
public struct RunReport: Sendable {
    /// One line of the run's description: a name and its value.
    public struct Row: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    /// A validation image the saved model got wrong, most confident first (`ReportPage.Mistake`).
    public typealias Mistake = ReportPage.Mistake

    public static let thumbnailSide = ReportPage.thumbnailSide
    public static let mistakeCount = ReportPage.mistakeCount

    public var commandLine: String
    public var data: String
    public var classes: [String]
    public var trainCounts: [Int]
    public var valCounts: [Int]
    /// Weights, policy, recipe, precision, CPU: in the order shown.
    public var settings: [Row]
    public var epochs: [EpochMetrics]
    /// The epoch whose model `--output` holds.
    public var bestEpoch: Int?
    /// The first epoch (from 1) of the second phase (`--head-epochs`), marked on the curves.
    public var phaseStart: Int? = nil
    /// scikit-learn's figures for the saved model on val (Inference's `ClassificationReport`).
    public var evaluation: ClassificationReport?
    public var mistakes: [Mistake]
    public var warnings: [String]
}

extension RunReport {
    /// The report of `trainer`'s run so far. `commandLine`: the arguments as given;
    /// `thumbnail`: a path's JPEG thumbnail (nil when unreadable).
    public init(trainer t: Trainer, commandLine arguments: [String], thumbnail: (String) -> [UInt8]?) throws {
        let c = t.config, data = t.data
        commandLine = arguments.map(Self.shellQuoted).joined(separator: " ")
        self.data = c.data
        classes = data.classes
        trainCounts = Self.counts(data.train, classes: data.classes.count)
        valCounts = Self.counts(data.val, classes: data.classes.count)
        let o = c.optimizer
        var optimizer = "\(o.kind.rawValue), weight decay \(o.weightDecay)"
        if o.kind == .sgd { optimizer += ", momentum \(o.momentum)" + (o.nesterov ? ", Nesterov" : "") }
        settings = [
            Row("validation", data.valSource),
            Row("weights", c.weights ?? "none (trained from scratch)"),
            Row("recipe", c.recipe.map { "--recipe \($0.rawValue) (the options it sets, where not given: README's \"Recipes\")" } ?? "none: the options as given"),
            Row("architecture", c.architecture),
            Row("policy", ((c.headEpochs ?? 0) > 0 ? "the head alone for \(c.headEpochs!) epoch\(c.headEpochs! == 1 ? "" : "s") (--head-epochs), then " : "")
                + "--train \(c.policy.rawValue)" + (c.policy == .last ? " (--last-stages \(c.lastStages))" : "")
                + ", --head \(c.head.rawValue), --frozen-bn \(c.frozenBN.rawValue)"),
            Row("optimizer", optimizer),
            Row("learning rate", c.scheduleDescription + (t.ratesDescription.map { "; \($0)" } ?? "")
                + ((c.headEpochs ?? 0) > 0 ? "; the schedule starts again at epoch \(c.headEpochs! + 1)" : "")),
            Row("batch size", "\(c.batchSize)" + ((c.accumulate ?? 1) > 1 ? ", --accumulate \(c.accumulate!) (a step every \(c.accumulate!) batches: \(c.batchSize * c.accumulate!) images)" : "")),
            Row("epochs", "\(c.epochs)" + (t.earlyStop.map { ", stopped early after epoch \($0.epoch): \($0.reason)" } ?? "")),
            Row("stopping", c.stoppingDescription),
            Row("label smoothing", "\(c.labelSmoothing)"),
            Row("gradient clipping", c.clipGradNorm.map { "--clip-grad-norm \($0) (total L2 norm of the trainable gradients)" } ?? "none"),
            Row("mixup / cutmix", t.mixingDescription),
            Row("weight EMA", t.averageDescription),
            Row("class weights", "--class-weights \((c.classWeights ?? .unweighted).rawValue), --sampler \((c.sampler ?? .random).rawValue)"),
            Row("augment", c.augment ? "yes (random resized crop and flip" + (c.augmentation.map { ", then \($0.commandLine)" } ?? "") + ")" : "no (--no-augment)"),
            Row("image size", "train crop \(c.trainingCrop), validation Resize \(c.resize) + CenterCrop \(c.imageSize) (what predict uses)"),
            Row("seed", "\(c.seed)"),
            Row("precision", c.precision),
            Row("CPU", Self.cpuModel() ?? "unknown"),
            Row("ISA", "\(CPUCapabilities.current.isa) (bf16: \(CPUCapabilities.current.bf16.rawValue))"),
            Row("model file", c.output),
        ]
        epochs = t.history
        bestEpoch = t.savedEpoch
        phaseStart = c.phaseStarts.count > 1 ? c.phaseStarts[1] + 1 : nil
        evaluation = try t.bestEvaluation()
        mistakes = t.bestValidation.map { v in
            Self.topMistakes(v, count: Self.mistakeCount).map { m in
                let path = data.val.indices.contains(m.sample) ? data.val[m.sample].path : ""
                return Mistake(path: path, trueClass: m.trueClass, predicted: m.predicted, probability: m.probability,
                               thumbnail: path.isEmpty ? nil : thumbnail(path))
            }
        } ?? []
        warnings = data.warnings
            + t.unreadable.keys.sorted().map { "skipped an unreadable training image: \(t.unreadable[$0] ?? data.train[$0].path)" }
            + t.unreadableVal.keys.sorted().map { "skipped an unreadable validation image: \(t.unreadableVal[$0] ?? data.val[$0].path)" }
    }

    /// The `count` misclassified samples whose predicted class is most probable (ties: the
    /// earlier sample first): fastai's `plot_top_losses` for the wrong ones (`ReportPage.topMistakes`).
    public static func topMistakes(_ v: ValidationRecord, count: Int)
        -> [(sample: Int, trueClass: Int, predicted: Int, probability: Float)] {
        ReportPage.topMistakes(indices: v.indices, labels: v.labels, probabilities: v.probabilities, count: count)
    }

    /// Images per class index.
    static func counts(_ samples: [ImageFolder.Sample], classes: Int) -> [Int] {
        var n = [Int](repeating: 0, count: classes)
        for s in samples where n.indices.contains(s.label) { n[s.label] += 1 }
        return n
    }

    /// The classes the confusion matrix shows (`ReportPage.shownClasses`).
    public static func shownClasses(_ confusion: [[Int]], limit: Int = 50) -> [Int] {
        ReportPage.shownClasses(confusion, limit: limit)
    }

    /// POSIX shell quoting, as Python's `shlex.quote`: safe words as they are, others in
    /// single quotes.
    public static func shellQuoted(_ s: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")
        if !s.isEmpty && s.allSatisfy(safe.contains) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\"'\"'") + "'"
    }

    /// /proc/cpuinfo's first "model name", if there is one.
    public static func cpuModel(cpuinfo: String = "/proc/cpuinfo") -> String? {
        guard let text = try? String(contentsOfFile: cpuinfo, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if !name.isEmpty { return name }
        }
        return nil
    }
}
