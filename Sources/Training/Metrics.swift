import Checkpoint
import Engine
import Foundation
import Inference

/// One epoch's figures, as printed and as saved in metrics.json.
public struct EpochMetrics: Codable, Equatable, Sendable {
    public var epoch: Int
    public var lr: Double
    public var trainLoss: Double
    public var valLoss: Double
    public var valAccuracy: Double
    public var seconds: Double
    public var imagesPerSecond: Double
    public var skippedImages: Int
    /// `--ema-decay`: the weight average's val loss and accuracy this epoch (absent without it).
    public var emaValLoss: Double? = nil
    public var emaValAccuracy: Double? = nil
    /// `--ema-decay`: whether the average, not the model, was this epoch's candidate for
    /// `--output` (better by `--monitor`).
    public var emaChosen: Bool? = nil
}

/// metrics.json: the run's settings and per-epoch figures, and (schema 2) the saved model's
/// figures on val. Schema 1 (no `schema_version`) lacks `best_epoch_evaluation`; readers
/// (`trainedModel`) read only what every version has.
public struct MetricsReport: Codable {
    /// The version of this layout: 2 adds `schema_version` and `best_epoch_evaluation`.
    public static let schemaVersion = 2
    public var config: TrainConfig
    public var classes: [String]
    public var trainImages: Int
    public var valImages: Int
    public var bestValAccuracy: Double
    public var unreadableImages: [String]
    public var epochs: [EpochMetrics]
    /// The model `--output` holds, scored on val as scikit-learn scores it; nil when no
    /// epoch was validated in this process (e.g. right after `--resume`, an empty val set).
    public var bestEpochEvaluation: BestEpochEvaluation? = nil
    /// Under mpirun with several processes: how the run was spread (absent for one process).
    public var distributed: DistributedSummary? = nil
    /// `--patience`: why the run stopped before its last epoch (absent when it did not).
    public var earlyStop: EarlyStop? = nil
    /// `--conv auto`'s choice per conv shape (`64->64 3x3 stride 1 pad 1 on 32x64x56x56 train`)
    /// and the times it measured; nil when nothing was chosen by measurement.
    public var convolutionAlgorithms: [String: ConvolutionTuner.Decision]? = nil
    /// `--ema-decay`: which weights `--output` holds, "ema" (the average) or "model" (absent without it).
    public var savedWeights: String? = nil
    public var schemaVersion: Int = MetricsReport.schemaVersion
}

/// The saved model's confusion matrix and per-class figures on val: Inference's
/// `ClassificationReport` (scikit-learn's `classification_report` and `confusion_matrix`).
public struct BestEpochEvaluation: Codable, Equatable, Sendable {
    public struct Scores: Codable, Equatable, Sendable {
        public var precision: Double
        public var recall: Double
        public var f1Score: Double
        public var support: Int
        public init(_ s: ClassificationReport.Scores) {
            precision = s.precision; recall = s.recall; f1Score = s.f1; support = s.support
        }
    }
    public struct ClassScores: Codable, Equatable, Sendable {
        public var name: String
        public var scores: Scores
    }
    /// The epoch (from 1) whose model was scored.
    public var epoch: Int
    public var accuracy: Double
    public var count: Int
    /// `confusion_matrix[true][predicted]`, in class-index order.
    public var confusionMatrix: [[Int]]
    public var perClass: [ClassScores]
    public var macroAvg: Scores
    public var weightedAvg: Scores

    public init(epoch: Int, _ r: ClassificationReport) {
        self.epoch = epoch
        accuracy = r.accuracy
        count = r.count
        confusionMatrix = r.confusion
        perClass = zip(r.classNames, r.perClass).map { ClassScores(name: $0.0, scores: Scores($0.1)) }
        macroAvg = Scores(r.macro)
        weightedAvg = Scores(r.weighted)
    }
}

extension MetricsReport {
    /// Writes metrics.json atomically: snake-case keys, sorted, NaN and infinities of a
    /// diverged run as Python's json writes them.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = ResumeState.nonFinite
        try TemporaryFile.write(encoder.encode(self), to: path)
    }

    /// What predict reads of a metrics.json (Inference's `TrainedModel`: the model file it
    /// describes and the sizes it was validated at), read on its own, so that a metrics.json of
    /// an older or newer Graft still gives them.
    public typealias TrainedModel = Inference.TrainedModel

    /// The `TrainedModel` of the metrics.json at `url`, or nil when there is none or it says nothing usable.
    public static func trainedModel(at url: URL) -> TrainedModel? { TrainedModel.read(metrics: url) }
}
