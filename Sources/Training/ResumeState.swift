import Models
import Checkpoint
import Engine
import Foundation

/// What `--resume` needs to continue after the last finished epoch: the model (parameters and
/// batch-norm statistics), the optimizer's buffers and steps, the epoch and the figures so far.
/// The random state is derived from (seed, epoch, sample), so the seed and the epoch restore it.
/// Written after every epoch beside the output: `resNet34.resume.pth` and `.resume.json`.
public struct ResumeState: Codable {
    public var config: TrainConfig
    public var nextEpoch: Int
    public var bestAccuracy: Double
    /// The epoch whose model --output holds (nil in files written before it was recorded).
    public var savedEpoch: Int?
    public var history: [EpochMetrics]
    public var optimizerSteps: [String: Int]
    public var lr: Double
    public var unreadable: [Int: String]
    /// Optimizer steps taken over all epochs so far (nil in files written before it was
    /// recorded).
    public var globalStep: Int?
    /// The saved model's validation pass (probabilities and labels), for metrics.json's
    /// best_epoch_evaluation and the report (nil in files written before it was recorded).
    public var bestValidation: ValidationRecord?
    /// The processes that trained it and whether their batch norms were synchronised (nil in
    /// files written before they were recorded: one process, per-process statistics).
    public var processes: Int?
    public var syncBatchNorm: Bool?
    /// `--conv auto`'s choices per conv shape (nil in files written before it was recorded).
    public var convolutionAlgorithms: [String: ConvolutionTuner.Decision]?
    /// The learning-rate schedule's state: steps per epoch, ReduceLROnPlateau's best loss, bad
    /// epochs and cut (nil in files written before it was recorded: laid out afresh).
    public var schedule: ScheduleState?

    public static func paths(for config: TrainConfig) -> (tensors: String, json: String) {
        let stem = (config.output as NSString).deletingPathExtension
        return (stem + ".resume.pth", stem + ".resume.json")
    }

    init(trainer: Trainer, nextEpoch: Int) {
        config = trainer.config
        self.nextEpoch = nextEpoch
        bestAccuracy = trainer.bestAccuracy
        savedEpoch = trainer.savedEpoch
        history = trainer.history
        optimizerSteps = trainer.optimizer.steps
        lr = trainer.optimizer.lr
        unreadable = trainer.unreadable
        globalStep = trainer.globalStep
        bestValidation = trainer.bestValidation
        processes = trainer.cluster.size
        syncBatchNorm = trainer.syncBatchNorm
        convolutionAlgorithms = trainer.model.convolutionTuner.decisions
        schedule = trainer.schedule?.state
        tensors = StateDict()
        for (k, v) in trainer.model.stateDict().items { tensors["model/" + k] = v }
        for (name, buffers) in trainer.optimizer.buffers.sorted(by: { $0.key < $1.key }) {
            for (i, b) in buffers.enumerated() { tensors["optimizer/\(name)/\(i)"] = TensorData(shape: [b.count], floats: b) }
        }
        tensors[ResumeState.epochKey] = TensorData(shape: [], int64s: [Int64(nextEpoch)])
        // --ema-decay: the weight average, exactly (its keys are the model's state-dict keys).
        for (k, v) in trainer.ema?.stateDict.items ?? [] { tensors[ResumeState.emaPrefix + k] = v }
    }

    static let emaPrefix = "ema/"

    /// The saved weight average (`--ema-decay`), nil when the run kept none.
    var emaState: StateDict? {
        var sd = StateDict()
        for (k, v) in tensors.items where k.hasPrefix(ResumeState.emaPrefix) { sd[String(k.dropFirst(ResumeState.emaPrefix.count))] = v }
        return sd.items.isEmpty ? nil : sd
    }

    /// The .pth's copy of `nextEpoch`: the two files are renamed into place one after the
    /// other, so a run stopped between the renames leaves tensors of one epoch beside the JSON
    /// of the one before. `read` refuses such a pair instead of resuming from a mixture.
    static let epochKey = "resume/next_epoch"

    /// Not in the JSON: the tensors go to the .pth beside it.
    var tensors = StateDict()
    enum CodingKeys: String, CodingKey { case config, nextEpoch, bestAccuracy, savedEpoch, history, optimizerSteps, lr, unreadable, globalStep, bestValidation, processes,
                               syncBatchNorm, convolutionAlgorithms, schedule }

    /// NaN and infinite losses (a diverged run) as Python's json writes them.
    static let nonFinite = JSONEncoder.NonConformingFloatEncodingStrategy.convertToString(
        positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")

    func write(for config: TrainConfig) throws {
        let (t, j) = ResumeState.paths(for: config)
        try tensors.write(to: t)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = ResumeState.nonFinite
        try TemporaryFile.write(encoder.encode(self), to: j)
    }

    public static func read(for config: TrainConfig) throws -> ResumeState {
        let (t, j) = paths(for: config)
        guard FileManager.default.fileExists(atPath: j), FileManager.default.fileExists(atPath: t) else {
            throw ResumeError.nothingToResume(j)
        }
        guard let bytes = FileManager.default.contents(atPath: j) else { throw ResumeError.cannotRead(j) }
        var state: ResumeState
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        do { state = try decoder.decode(ResumeState.self, from: bytes) } catch {
            throw ResumeError.notAResumePoint(j)
        }
        state.tensors = try Checkpoint(contentsOf: t).stateDict
        if let e = state.tensors[epochKey]?.int64s().first, e != Int64(state.nextEpoch) {
            throw ResumeError.epochsDiffer(tensors: t, tensorsEpoch: e, json: j, jsonEpoch: state.nextEpoch)
        }
        return state
    }

    /// The model's state dict as saved.
    public var modelState: StateDict {
        var sd = StateDict()
        for (k, v) in tensors.items where k.hasPrefix("model/") { sd[String(k.dropFirst(6))] = v }
        return sd
    }

    /// Puts the saved optimizer state and figures back into a trainer.
    public func restore(_ trainer: Trainer) {
        var buffers: [String: [[Float]]] = [:]
        for (k, v) in tensors.items where k.hasPrefix("optimizer/") {
            let parts = k.dropFirst(10).split(separator: "/")
            guard let i = parts.last.flatMap({ Int($0) }) else { continue }
            let name = parts.dropLast().joined(separator: "/")
            var list = buffers[name] ?? []
            while list.count <= i { list.append([]) }
            list[i] = v.floats()
            buffers[name] = list
        }
        trainer.optimizer.restore(buffers: buffers, steps: optimizerSteps, lr: lr)
        // Older files: the first epoch that reached the best accuracy saved the model, if any did.
        let saved = savedEpoch ?? history.firstIndex { $0.valAccuracy == bestAccuracy && bestAccuracy > 0 }.map { $0 + 1 }
        // Older files: Adam counts its steps; otherwise the count starts again from 0.
        let steps = globalStep ?? optimizerSteps.values.max() ?? 0
        trainer.restore(history: history, best: bestAccuracy, savedEpoch: saved, unreadable: unreadable, globalStep: steps,
                        bestValidation: bestValidation, schedule: schedule)
        trainer.savedEMA = emaState   // made into the average when the run starts
    }
}

/// Why `--resume` cannot continue a run.
public enum ResumeError: Error, CustomStringConvertible, Equatable {
    /// No resume point (`path`: its .json) beside the output.
    case nothingToResume(String)
    /// The options or data differ from those the saved run was started with (`resumePoint`:
    /// the saved run's .json): every one that differs, with both values.
    case differentRun(resumePoint: String, differences: [OptionDifference])
    /// The resume point's .json cannot be read.
    case cannotRead(String)
    /// The .json is not a resume point finetune wrote.
    case notAResumePoint(String)
    /// The two files of the resume point hold different epochs: the run stopped between the two renames.
    case epochsDiffer(tensors: String, tensorsEpoch: Int64, json: String, jsonEpoch: Int)
    /// `--sync-bn` differs from the saved run's.
    case syncBatchNormDiffers(saved: Bool)

    public var description: String {
        let again = "Run without --resume to start again."
        switch self {
        case .nothingToResume(let p): return "\(p): no run to resume here (it is written after each finished epoch). Run without --resume to start one."
        case let .differentRun(json, differences):
            let which = differences.isEmpty ? "the options or data are not those of the saved run"
                : differences.map(\.description).joined(separator: "; ")
            return "--resume: this command differs from the run saved in \(json): \(which). "
                + "To continue that run, give \(differences.count == 1 ? "the value" : "the values") it was started with. \(again)"
        case .cannotRead(let p): return "\(p): cannot read it. \(again)"
        case .notAResumePoint(let p): return "\(p): not a resume point finetune wrote (damaged, or from another version). \(again)"
        case .syncBatchNormDiffers(let saved):
            return "--resume: the saved run was trained \(saved ? "with" : "without") --sync-bn: "
                + "\(saved ? "add" : "leave out") --sync-bn to continue it. \(again)"
        case let .epochsDiffer(t, e, j, n):
            return "\(t): it holds the state after epoch \(e) but \(j) the state after epoch \(n): "
                + "the run was stopped while saving its resume point, so the two do not belong together. \(again)"
        }
    }
}
