import Checkpoint
import Cluster
import Engine
import Foundation
import Inference
import Models

/// A `finetune` run, checked from end to end before it writes anything: the data (scan,
/// classes, split), the weights (readable, a model of a known family that fits the options), the precision,
/// `--resume`'s saved run, and the folders of every file it will write. `prepare` locks those
/// folders for the run (`RunLock`: a second run there is refused) and, under the lock, removes
/// the temporary files that killed runs left; it writes no output. `run` writes, and lets the
/// locks go when it ends.
public final class FinetuneJob {
    public let config: TrainConfig
    public let data: ImageFolder
    public let trainer: Trainer
    /// The first epoch to train (from 0): after the saved one with --resume.
    public let startEpoch: Int
    public let log: (String) -> Void
    /// The output folders' locks (rank 0), from `prepare` to the end of `run`.
    private var folders: RunFolders?

    init(config: TrainConfig, data: ImageFolder, trainer: Trainer, startEpoch: Int, folders: RunFolders?, log: @escaping (String) -> Void) {
        self.config = config
        self.data = data
        self.trainer = trainer
        self.startEpoch = startEpoch
        self.folders = folders
        self.log = log
    }

    /// Checks everything and builds the model; writes no output, but locks the output folders
    /// (rank 0; a second run in them is refused, `RunLock.Failure.held`) and removes the
    /// temporary files killed runs left there, refused `--resume` or not. `output` nil: named after the
    /// architecture (resNet34.pth), in `folder` when given. `allowObjects`: also read a whole pickled model (nothing in
    /// it is executed); `limits`: how much memory reading the weights may take (`--max-memory`).
    /// `report`: writes report.html after every epoch (nil: none). `log` gets progress lines,
    /// `warn` the warnings. `cluster`: the job's processes (under mpirun: data-parallel, only
    /// rank 0 checks and writes files); `syncBatchNorm`: `--sync-bn`. `trains`: false for
    /// `--find-lr`, which writes none of training's files, so they are neither checked nor locked.
    public static func prepare(_ config: TrainConfig, output: String?, folder: String? = nil, resume: Bool, allowObjects: Bool = false,
                               limits: ReadLimits = ReadLimits(), report: ReportWriter? = nil,
                               cluster: Cluster = .single, syncBatchNorm: Bool = false, trains: Bool = true,
                               log: @escaping (String) -> Void, warn: @escaping (String) -> Void) throws -> FinetuneJob {
        var c = config
        c.trainCrop = c.trainingCrop          // recorded in metrics.json: what the training batches are
        // Weights: readable, a known family's; they name the architecture and the default output.
        let weights = try Finetune.loadWeights(c, allowObjects: allowObjects, limits: limits, log: log)
        try Finetune.checkModelOptions(c, weights: weights)
        var fileName = Finetune.defaultOutput(architecture: c.architecture)
        if let sd = weights, let a = try? Architecture.detect(sd, requireHead: false) {
            // Widths no variant has keep --arch's name (resNet34.pth by default) within its
            // family; another family's file is named by that family (vgg.pth).
            let sameFamily = Families.architecture(variant: c.architecture)?.family.name == a.family.name
            if !a.name.hasSuffix("(custom)") { c.architecture = a.name; fileName = a.fileName }
            else if !sameFamily { fileName = a.fileName }
        }
        c.output = output ?? folder.map { ($0.hasSuffix("/") ? $0 : $0 + "/") + fileName } ?? fileName
        // The best model is written over --output from the first epoch on: never over the
        // weights the run starts from (continuing a fine-tuned resNet34.pth names both alike).
        if trains, let w = c.weights, sameFile(w, c.output) {
            throw TrainingError.outputIsTheWeights(path: c.output, defaulted: output == nil)
        }

        // Precision.
        // int8 is for inference only (a config that names it was not written by finetune).
        guard let precision = Precision(rawValue: c.precision), precision != .int8 else {
            throw TrainingError.unknownPrecision(c.precision)
        }
        // bf16 needs a CPU with bf16 kernels (the command refuses it earlier, in validation).
        try precision.requireSupport()
        // The augmentation, as the command validates it: the policies index their magnitude
        // tables by these values and would trap inside the loader on others.
        if let problem = c.augmentation?.problem { throw TrainingError.invalidAugmentation(problem) }

        // Data.
        let data = try ImageFolder(root: c.data, valSplit: c.valSplit, seed: c.seed)
        data.warnings.forEach(warn)
        try data.check(classCount: c.classes)
        if !resume { try Finetune.checkKeptHead(c, weights: weights, path: c.weights ?? "none", classes: data.classes) }
        log("using \(data.train.count) images for training, \(data.val.count) images for validation (\(data.valSource)).")
        log("classes: \(data.classes.joined(separator: ", "))")
        if let imbalance = ClassBalance.imbalanceWarning(counts: ClassBalance.counts(labels: data.train.map(\.label), classes: data.classes.count),
                                                         names: data.classes) { warn(imbalance) }

        // Every file's folder (rank 0 writes them all), locked for this run; under the locks the
        // temporary files of killed runs go, before --resume is checked (a refused one too).
        var folders: RunFolders? = nil
        if cluster.isRoot && trains {
            try writtenPaths(c).forEach(checkWritable)
            if let r = report { try checkWritable(r.path) }
            folders = try RunFolders.take(for: writtenPaths(c) + [report?.path].compactMap { $0 }, log: log)
        }

        // The saved run, with --resume.
        var saved: ResumeState? = nil
        if resume {
            let state = try ResumeState.read(for: c)
            if state.config.conv == nil && c.conv == .auto {
                c.conv = nil
                log("the saved run predates --conv: it continues with direct convolutions, as it ran")
            }
            // Decoding threads change nothing in the run (under mpirun they follow the cores).
            var asSaved = state.config
            asSaved.workers = c.workers
            // Runs saved before --warmup-epochs and --plateau-patience ran without warmup and plateau.
            if asSaved.warmupEpochs == nil { asSaved.warmupEpochs = 0 }
            if asSaved.plateauPatience == nil { asSaved.plateauPatience = c.plateauPatience }
            if asSaved.monitor == nil { asSaved.monitor = .valAccuracy }
            // Runs saved before --class-weights and --sampler ran unweighted, shuffled.
            if asSaved.classWeights == nil { asSaved.classWeights = .unweighted }
            if asSaved.sampler == nil { asSaved.sampler = .random }
            if asSaved.accumulate == nil { asSaved.accumulate = 1 }   // runs saved before --accumulate stepped every batch
            if asSaved.headEpochs == nil { asSaved.headEpochs = 0 }   // runs saved before --head-epochs had one phase
            // Runs saved before --train-crop trained at their image size.
            if asSaved.trainCrop == nil { asSaved.trainCrop = asSaved.imageSize }
            guard asSaved == c else {
                throw ResumeError.differentRun(resumePoint: ResumeState.paths(for: c).json, differences: c.differences(from: asSaved))
            }
            if (state.syncBatchNorm ?? false) != syncBatchNorm { throw ResumeError.syncBatchNormDiffers(saved: state.syncBatchNorm ?? false) }
            saved = state
        }

        // The model: the weights must fit the architecture and the options.
        let model = try Finetune.makeModel(c, weights: saved?.modelState ?? weights)
        if let s = saved { model.load(parameters: s.modelState) }
        // --conv auto: the saved run's choices, so that a resumed run computes as it did.
        if let d = saved?.convolutionAlgorithms { model.convolutionTuner = ConvolutionTuner(decisions: d) }
        model.convolutionTuner.log = { log("--conv auto: " + $0) }
        if cluster.isDistributed {
            // Every rank computes as rank 0 measured: the training passes' choices are broadcast
            // (all ranks meet the same training shapes in the same order). Evaluation shapes
            // (validation, and the frozen trunk of --train fc) are met by each rank on its own
            // share, whose last batch can differ, so they cannot be agreed on as they come: they
            // are decided by a rule, direct (PyTorch's arithmetic), never by a rank's clock or
            // cache, so that every run and every rank computes them alike.
            let rootDecides = ConvolutionTuner.rootDecides(isRoot: cluster.isRoot, broadcast: { cluster.broadcast($0) })
            model.convolutionTuner.agree = { key, decide in
                guard key.hasSuffix(" train") else { return ConvolutionTuner.Decision(algorithm: .direct) }
                return try rootDecides(key, decide)
            }
        }
        let trainer = Trainer(config: c, data: data, model: model)
        saved?.restore(trainer)
        trainer.log = log
        trainer.warn = warn
        trainer.report = report
        trainer.cluster = cluster
        trainer.syncBatchNorm = syncBatchNorm
        trainer.synchronizeInitialModel()
        let start = saved?.nextEpoch ?? 0
        let trainable = model.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
        let phases = (c.headEpochs ?? 0) > 0 ? " after --head-epochs \(c.headEpochs!) of the head alone" : ""
        log("\(model.name), --train \(c.policy.rawValue), --head \(c.head.rawValue): \(trainable) trainable parameters\(phases)"
            + (start > 0 ? "; resuming at epoch \(start + 1)" : ""))
        if cluster.isDistributed {
            log("data-parallel: \(cluster.size) processes x --batch-size \(c.batchSize) = a global batch of \(cluster.size * c.batchSize) images; "
                + "batch norm: " + (syncBatchNorm ? "statistics over all processes (--sync-bn)" : "per-process statistics"))
        }
        if let s = saved, (s.processes ?? 1) != cluster.size {
            let n = s.processes ?? 1
            log("--resume: the saved run had \(n) process\(n == 1 ? "" : "es"), this one \(cluster.size): the global batch is now "
                + "\(cluster.size * c.batchSize) images (was \(n * c.batchSize)); each epoch's shuffle is the same, but from epoch \(start + 1) on "
                + "the processes' shares, and so the batches, differ from what the saved run would have done")
        }
        if cluster.isRoot && trains, let free = SaveSpace.freeBytes(atFolderOf: c.output),
           let w = SaveSpace.warning(SaveSpace.files(c, model: model), free: free, present: saved != nil) { warn(w) }
        return FinetuneJob(config: c, data: data, trainer: trainer, startEpoch: start, folders: folders, log: log)
    }

    /// Writes class_indices.json, trains (to the last epoch, or up to epoch `until`, counted
    /// from 1), and lets the output folders' locks go, however it ends. Run again, it takes them
    /// again.
    public func run(until: Int? = nil) throws {
        defer { releaseFolders() }
        do {
            if trainer.cluster.isRoot {
                if folders == nil {
                    folders = try RunFolders.take(for: FinetuneJob.writtenPaths(config) + [trainer.report?.path].compactMap { $0 }, log: log)
                }
                try ClassIndices(names: data.classes).write(to: config.classIndices)
            }
            try trainer.run(from: startEpoch, until: until)
        } catch CheckpointError.writeFailed(let path, let reason) {
            // An output that could not be written (model, figures, report, resume point): what
            // the user can do about it.
            throw TrainingError.cannotSave(path: path, reason: reason)
        }
    }

    /// Lets the output folders' locks go (a job that is prepared but never run holds them until
    /// it is released).
    public func releaseFolders() {
        folders?.release()
        folders = nil
    }

    /// The closing line: the best accuracy and the files written, naming only files that exist.
    public var summary: String {
        let accuracy = String(format: "%.3f", trainer.bestAccuracy)
        let others = ([config.classIndices, config.metrics] + [trainer.report?.path].compactMap { $0 }).filter { FileManager.default.fileExists(atPath: $0) }
        guard let epoch = trainer.savedEpoch, FileManager.default.fileExists(atPath: config.output) else {
            return "Finished Training. No model was saved (no epoch was validated)" + (others.isEmpty ? "." : "; wrote \(others.joined(separator: ", ")).")
        }
        let stopped = trainer.earlyStop.map { "Stopped early after epoch \($0.epoch) of \(config.epochs): \($0.reason). " } ?? ""
        return "Finished Training. \(stopped)Best val accuracy \(accuracy) (epoch \(epoch)): " + ([config.output] + others).joined(separator: ", ")
    }

    /// Every file a run writes: the model, class names, figures and the resume point.
    static func writtenPaths(_ c: TrainConfig) -> [String] {
        let resume = ResumeState.paths(for: c)
        return [c.output, c.classIndices, c.metrics, resume.tensors, resume.json]
    }

    /// Whether two paths name one existing file (the same inode), or the same path.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        if URL(fileURLWithPath: a).standardizedFileURL == URL(fileURLWithPath: b).standardizedFileURL { return true }
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Fails unless `path` can be written: its folder exists and is writable, and `path` is
    /// not a folder (`OutputPath.problem`, the inference commands' check too).
    static func checkWritable(_ path: String) throws {
        if let problem = OutputPath.problem(path) { throw TrainingError.cannotWrite(path: path, problem) }
    }
}
