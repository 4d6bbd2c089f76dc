import Foundation
import Hub
import Training

/// What ``fineTune(_:progress:)`` trains: the `finetune` command's main options, with its defaults
/// (the tutorial's recipe: Adam at 1e-4, batch 16, three epochs, every layer trained).
public struct FineTuneConfiguration: Sendable {
    /// Which layers train.
    public enum Layers: String, Sendable, CaseIterable {
        /// Every layer.
        case all
        /// The last stage and the classifier (with the other batch norms frozen).
        case last
        /// The classifier alone, on features the frozen trunk computes once per image.
        case fc
    }

    /// A folder with `train/<class>/` and `val/<class>/`, or one folder of `<class>/`
    /// (split by `validationSplit`).
    public var data: String
    /// How many classes: the number of class folders.
    public var classes: Int
    /// The starting weights: a `.pth` file, torchvision's weights by name (`"resnet34"`,
    /// downloaded into torch.hub's cache), or nil to train `architecture` from random weights.
    public var weights: String?
    /// The architecture trained from random weights (when `weights` is nil).
    public var architecture = "resnet34"
    /// Where the model, `class_indices.json`, `metrics.json`, `report.html` and the resume point go
    /// (made if missing).
    public var outputFolder = "."
    /// Passes over the training images.
    public var epochs = 3
    /// Images per optimizer step.
    public var batchSize = 16
    /// Adam's learning rate.
    public var learningRate = 1e-4
    /// Which layers train (``Layers/all`` by default).
    public var train: Layers = .all
    /// The validation crop; training crops are random crops of this size.
    public var imageSize = 224
    /// The shorter side before the validation crop.
    public var resize = 256
    /// torchvision's training augmentation (random resized crop, horizontal flip); off: the
    /// validation transform for training too.
    public var augment = true
    /// The fraction of a single folder held back for validation.
    public var validationSplit = 0.1
    /// Seeds initialisation, augmentation, the split and the shuffles: the same seed, the same run.
    public var seed: UInt64 = 0
    /// ``Precision/f32`` or ``Precision/bf16`` (AVX-512).
    public var precision: Precision = .f32
    /// Continue the run whose resume point is in `outputFolder`.
    public var resume = false
    /// For weights by name: never download.
    public var offline = false

    /// A run on `data` with `classes` classes and the tutorial's defaults for everything else.
    public init(data: String, classes: Int) {
        self.data = data
        self.classes = classes
    }
}

/// One epoch's figures.
public struct EpochResult: Sendable, Equatable {
    /// From 1.
    public let epoch: Int
    /// The learning rate at the epoch's end.
    public let learningRate: Double
    /// The mean training loss over the epoch.
    public let trainLoss: Double
    /// The mean loss on the validation images.
    public let validationLoss: Double
    /// The fraction of validation images classified right.
    public let validationAccuracy: Double
    /// The epoch's wall time, validation included.
    public let seconds: Double
    /// Training images per second.
    public let imagesPerSecond: Double
}

/// What a fine-tune reports as it goes.
public enum FineTuneEvent: Sendable {
    /// What the `finetune` command prints: the data found, each epoch's line, the summary.
    case log(String)
    /// Something to look at: unreadable images, classes out of balance.
    case warning(String)
    /// After each optimizer step: the epoch (from 1), the step within it (from 1), and the batch's loss.
    case step(epoch: Int, step: Int, stepsPerEpoch: Int, loss: Double)
    /// After each epoch, once the metrics, the report and (when the epoch is the best) the model are written.
    case epoch(EpochResult)
}

/// What a fine-tune wrote and how well it did.
public struct FineTuneResult: Sendable {
    /// The best epoch's model: loads in PyTorch (`torch.load`) and in ``Classifier``.
    public let weightsPath: String
    /// The class names, as the tutorial's train.py writes them (`{"0": "daisy", ...}`).
    public let classIndicesPath: String
    /// The run's configuration, data, per-epoch figures and best evaluation.
    public let metricsPath: String
    /// A page with the curves, the confusion matrix and the most confident mistakes.
    public let reportPath: String
    /// The best validation accuracy.
    public let bestValidationAccuracy: Double
    /// The epoch (from 1) the saved model comes from; nil when no epoch ran.
    public let bestEpoch: Int?
    /// Every epoch's figures, in order.
    public let history: [EpochResult]
}

/// A configuration ``fineTune(_:progress:)`` refuses before it reads anything.
public struct FineTuneConfigurationError: Error, CustomStringConvertible {
    /// What is wrong with the configuration.
    public let description: String
}

/// Fine-tunes a model as the `finetune` command does, calling `progress` as it goes, and returns
/// what it wrote. Runs on the calling thread until the last epoch. The 3x3 convolutions' direct or
/// Winograd choice is measured in this process; unlike the command, the library writes no choice
/// file into the home folder.
@discardableResult
public func fineTune(_ configuration: FineTuneConfiguration,
                     progress: @escaping @Sendable (FineTuneEvent) -> Void = { _ in }) throws -> FineTuneResult {
    let c = configuration
    func refuse(_ why: String) -> FineTuneConfigurationError { FineTuneConfigurationError(description: why) }
    guard c.classes >= 2 else { throw refuse("classes must be at least 2, not \(c.classes)") }
    guard c.epochs >= 1 else { throw refuse("epochs must be at least 1, not \(c.epochs)") }
    guard c.batchSize >= 1 else { throw refuse("batchSize must be at least 1, not \(c.batchSize)") }
    guard c.learningRate > 0, c.learningRate.isFinite else { throw refuse("learningRate must be above 0, not \(c.learningRate)") }
    guard c.imageSize >= 1, c.resize >= c.imageSize else { throw refuse("imageSize must be at least 1 and resize at least imageSize") }
    guard (0..<1).contains(c.validationSplit) else { throw refuse("validationSplit must be from 0 to below 1") }
    guard c.precision != .int8 else { throw refuse("int8 is for inference: fine-tune in f32 or bf16") }
    try c.precision.requireSupport()

    var config = TrainConfig(data: c.data, classes: c.classes)
    config.architecture = c.architecture
    config.epochs = c.epochs
    config.batchSize = c.batchSize
    config.optimizer.lr = c.learningRate
    config.stepSize = max(1, c.epochs / 3)
    config.policy = TrainConfig.Policy(rawValue: c.train.rawValue)!
    config.imageSize = c.imageSize
    config.resize = c.resize
    config.augment = c.augment
    config.valSplit = c.validationSplit
    config.seed = c.seed
    config.precision = c.precision.rawValue
    try FileManager.default.createDirectory(atPath: c.outputFolder, withIntermediateDirectories: true)
    let folder = c.outputFolder
    config.classIndices = folder + "/class_indices.json"
    config.metrics = folder + "/metrics.json"
    if let w = c.weights {
        config.weights = try resolveWeights(w, offline: c.offline, note: { progress(.log($0)) }).path
    }
    let report = ReportWriter(path: folder + "/report.html", commandLine: ["fineTune(\(c.data))"])
    let job = try Finetune.run(config, output: nil, folder: folder, resume: c.resume, report: report,
                               log: { progress(.log($0)) }, warn: { progress(.warning($0)) }, progress: nil,
                               observe: { trainer in
                                   let perEpoch = max(1, trainer.stepsPerEpoch)
                                   trainer.onStep = { step, loss in
                                       progress(.step(epoch: (step - 1) / perEpoch + 1, step: (step - 1) % perEpoch + 1,
                                                      stepsPerEpoch: perEpoch, loss: loss))
                                   }
                                   trainer.onEpoch = { progress(.epoch(EpochResult($0))) }
                               })
    return FineTuneResult(weightsPath: job.config.output, classIndicesPath: job.config.classIndices, metricsPath: job.config.metrics,
                          reportPath: report.path, bestValidationAccuracy: job.trainer.bestAccuracy, bestEpoch: job.trainer.savedEpoch,
                          history: job.trainer.history.map(EpochResult.init))
}

extension EpochResult {
    init(_ m: EpochMetrics) {
        self.init(epoch: m.epoch, learningRate: m.lr, trainLoss: m.trainLoss, validationLoss: m.valLoss,
                  validationAccuracy: m.valAccuracy, seconds: m.seconds, imagesPerSecond: m.imagesPerSecond)
    }
}
