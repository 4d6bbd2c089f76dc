import Checkpoint
import Cluster
import Foundation
import Inference
import Models

/// The whole `finetune` job: data, model, trainer, outputs. The executable only parses options
/// (CLISupport's `FinetuneCommandOptions`) and calls `run`.
public enum Finetune {
    /// The job as `finetune` runs it: checks everything before writing anything
    /// (`FinetuneJob.prepare`), trains, and logs the closing line. `output` nil: named after the
    /// architecture (resNet34.pth), in `folder` when given; `resume`: continue the interrupted run that wrote it.
    /// `allowObjects` and `limits`: how the weights are read (`--allow-objects`, `--max-memory`);
    /// `report`: report.html after every epoch (nil: none).
    /// `log` gets progress lines, `warn` the warnings, `progress` (when given) the lines of a
    /// progress bar, each replacing the last. `observe` gets the trainer once everything is
    /// checked, before the first epoch, to hang observers on its hooks (`--tensorboard`).
    /// `cluster` and `syncBatchNorm`: data-parallel under mpirun (`FinetuneJob.prepare`).
    @discardableResult
    public static func run(_ config: TrainConfig, output: String?, folder: String? = nil, resume: Bool, allowObjects: Bool = false,
                           limits: ReadLimits = ReadLimits(), report: ReportWriter? = nil,
                           cluster: Cluster = .single, syncBatchNorm: Bool = false, log: @escaping (String) -> Void,
                           warn: @escaping (String) -> Void, progress: ((String) -> Void)? = nil,
                           observe: ((Trainer) throws -> Void)? = nil) throws -> FinetuneJob {
        let job = try FinetuneJob.prepare(config, output: output, folder: folder, resume: resume, allowObjects: allowObjects,
                                          limits: limits, report: report, cluster: cluster, syncBatchNorm: syncBatchNorm,
                                          log: log, warn: warn)
        job.trainer.progress = progress
        try observe?(job.trainer)
        try job.run()
        log(job.summary)
        return job
    }

    /// The name the family gives a variant's file: `resNet34.pth` for resnet34, as the
    /// tutorial names its output; `vgg16.pth`, `resnext50_32x4d.pth` for the others.
    public static func defaultOutput(architecture: String) -> String {
        Families.architecture(variant: architecture)?.fileName ?? "model.pth"
    }

    /// The pretrained weights, or nil for `--weights none`. `allowObjects` also reads a whole
    /// pickled model (`--allow-objects`); `limits`: `--max-memory`.
    public static func loadWeights(_ config: TrainConfig, allowObjects: Bool = false, limits: ReadLimits = ReadLimits(),
                                   log: (String) -> Void) throws -> StateDict? {
        guard let path = config.weights else { return nil }
        let ckpt = try Checkpoint(contentsOf: path, options: .torchvisionModel(allowObjects: allowObjects, limits: limits))
        if let p = ckpt.removedPrefix { log("\(path): removed the prefix '\(p)' from every key") }
        let sd = try ckpt.modelStateDict()
        if ArchitectureGuess(sd).numClasses == nil {
            // A backbone saved without its fc: --head replace makes a new one anyway; --head
            // append keeps the pretrained fc and cannot do without it.
            guard config.head == .replace else {   // append and keep need the pretrained classifier
                throw TrainingError.backboneWithoutFC(path: path)
            }
            log("\(path): no fc (a backbone saved without its classifier); --head replace makes a new one")
        }
        return sd
    }

    /// Fails unless the options can make a model from `weights`: `--train fc` and `--head keep`
    /// need pretrained weights, and `--weights none` an `--arch` of a family Graft knows (`Families`).
    public static func checkModelOptions(_ config: TrainConfig, weights: StateDict?) throws {
        guard weights == nil else { return }
        if config.policy == .fc { throw TrainingError.headOnlyNeedsWeights }
        if config.head == .keep { throw TrainingError.keptHeadMismatch(weights: "none", reason: "--weights none has no classifier") }
        if Families.architecture(variant: config.architecture) == nil {
            throw TrainingError.unknownArchitecture(config.architecture, known: Families.variantNames)
        }
    }

    /// `--head keep`: the classifier of `weights` (read from `path`) must have the data's class
    /// count, and the class_indices.json beside `path` (the one finetune wrote with it) must
    /// name the data's classes in the same order, else the kept rows would mean other classes.
    public static func checkKeptHead(_ config: TrainConfig, weights: StateDict?, path: String, classes: [String]) throws {
        guard config.head == .keep, let sd = weights else { return }
        guard let a = try? Architecture.detect(sd, requireHead: true), let head = a.head else {
            throw TrainingError.keptHeadMismatch(weights: path, reason: "it has no classifier (\(ArchitectureGuess(sd).numClasses == nil ? "a backbone" : "unrecognised"))")
        }
        let n: Int
        switch head { case .linear(let c): n = c; case .appended(_, let c): n = c }
        guard n == classes.count else {
            throw TrainingError.keptHeadMismatch(weights: path, reason: "it has \(n) classes, the data \(classes.count) (\(classes.joined(separator: ", ")))")
        }
        let folder = OutputPath.folder(of: path)
        let indices = folder.isEmpty ? "class_indices.json" : (folder.hasSuffix("/") ? folder : folder + "/") + "class_indices.json"
        guard FileManager.default.fileExists(atPath: indices) else {
            throw TrainingError.keptHeadMismatch(weights: path, reason: "there is no \(indices) beside it to say which class each of its \(n) outputs is")
        }
        let names = try ClassIndices(contentsOf: indices).names
        guard names == classes else {
            let differ = zip(names, classes).enumerated().filter { $0.element.0 != $0.element.1 }
                .map { "output \($0.offset) is '\($0.element.0)' there, '\($0.element.1)' in the data" }
            throw TrainingError.keptHeadMismatch(weights: path, reason: "\(indices) names other classes: " + (differ.isEmpty ? "\(names.count) names for \(classes.count) classes" : differ.prefix(3).joined(separator: "; ")))
        }
    }

    /// The model the options ask for: the pretrained weights (or torchvision's initialisation
    /// of `--arch`) with the new head, frozen as `--train` says.
    public static func makeModel(_ config: TrainConfig, weights: StateDict?) throws -> Network {
        try checkModelOptions(config, weights: weights)
        let head: HeadPolicy
        switch config.head {
        case .replace: head = .replace(numClasses: config.classes)
        case .append: head = .append(numClasses: config.classes)
        case .keep: head = .keep
        }
        let model = try Network(stateDict: weights, architecture: weights == nil ? config.architecture : nil,
                                     head: head, seed: config.seed, precision: Precision(rawValue: config.precision) ?? .f32)
        model.frozenBN = config.frozenBN == .eval ? .eval : .train
        model.convolution = config.conv ?? .direct
        if config.policy == .last, config.lastStages > model.architecture.stageCount {
            throw TrainingError.tooManyStages(asked: config.lastStages, model: model.name, stages: model.architecture.stageCount)
        }
        model.freeze(config.freezePolicy)
        // An auxiliary classifier (Inception's) runs in every training forward but one that
        // starts at the frozen trunk's features (--train fc, --frozen-bn eval).
        let least = model.architecture.minimumTrainingSize
        if !model.architecture.graph.auxiliary.isEmpty, config.trainingCrop < least, !(model.trunkIsFrozen && model.frozenBN == .eval) {
            throw TrainingError.trainCropTooSmall(crop: config.trainingCrop, model: model.name, least: least)
        }
        return model
    }
}
