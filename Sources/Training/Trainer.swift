import Cluster
import Random
import Imaging
import Checkpoint
import Engine
import Foundation
import Inference
import Models

/// The fine-tuning loop: shuffled batches (decoding of the next batch overlaps this one's
/// step), the optimizer and schedule, validation each epoch, the best model saved as the
/// tutorial's train.py saves it (strictly better val accuracy), and a resume point after
/// every epoch. Every file is written atomically.
///
/// Under `mpirun -np N` (`cluster`) it trains data-parallel as PyTorch's DDP does (see
/// DataParallel.swift): each process takes its `DistributedSampler` share, gradients are
/// averaged over the processes while backward runs, validation is sharded and reduced, and only
/// rank 0 writes files.
public final class Trainer {
    public let config: TrainConfig
    public let data: ImageFolder
    public let model: Network
    public let optimizer: Optimizer
    public private(set) var history: [EpochMetrics] = []
    public private(set) var bestAccuracy: Double = 0
    /// The epoch (from 1) whose model `--output` holds, once one is saved. The first epoch's
    /// model is saved whatever its accuracy, so a finished run always leaves a model.
    public private(set) var savedEpoch: Int? = nil
    /// Training samples (indices into `data.train`) whose image could not be read (left out
    /// from then on).
    public private(set) var unreadable: [Int: String] = [:]
    /// Validation samples (indices into `data.val`) whose image could not be read (left out of
    /// the validation figures).
    public private(set) var unreadableVal: [Int: String] = [:]
    /// Where progress goes (a progress bar when stdout is a terminal).
    public var log: (String) -> Void = { print($0) }
    /// Where warnings go: standard error unless set.
    public var warn: (String) -> Void = { FileHandle.standardError.write(Data("warning: \($0)\n".utf8)) }
    public var progress: ((String) -> Void)? = nil
    /// Optimizer steps taken so far, over every epoch, counted on across `--resume`.
    public private(set) var globalStep = 0
    /// Called after each optimizer step with `globalStep` (from 1) and the batch's mean loss.
    /// Observers (TensorBoard's event file) hang here, so the loop knows nothing of them.
    public var onStep: ((_ step: Int, _ loss: Double) throws -> Void)? = nil
    /// Called after each epoch, once its figures are in `history` and metrics.json, before its
    /// resume point is written.
    public var onEpoch: ((EpochMetrics) throws -> Void)? = nil
    /// Called before each epoch's figures line; the lines it returns are logged first
    /// (finetune's one-line `--conv auto` summary of the shapes the epoch decided).
    public var beforeEpochLine: (() -> [String])? = nil
    /// The last validation pass: each validated sample's softmax probabilities and label.
    public private(set) var lastValidation: ValidationRecord? = nil
    /// The validation pass of the model `--output` holds (epoch `savedEpoch`); nil before one
    /// is saved (restored by `--resume` from files that recorded it).
    public private(set) var bestValidation: ValidationRecord? = nil
    /// Where report.html goes after every epoch (nil: none), and what it says about the run.
    public var report: ReportWriter? = nil
    /// The job's processes (`.single`: one process, no MPI).
    public var cluster: Cluster = .single
    /// `--sync-bn`: batch statistics over every process's batch (SyncBatchNorm); without
    /// several processes there is nothing to synchronise (as torch with world size 1).
    public var syncBatchNorm = false
    /// Averages gradients over the processes (nil for a single process).
    public internal(set) var reducer: GradientReducer?
    /// The learning rate of every step (`--schedule`, `--warmup-epochs`), laid out when the run
    /// starts, or continued from the resume point's state.
    public private(set) var schedule: LRScheduler? = nil
    /// Why the run stopped before its last epoch (`--patience`), once it has.
    public private(set) var earlyStop: EarlyStop? = nil
    /// The resume point's schedule state, until `run` lays the schedule out.
    var savedSchedule: ScheduleState? = nil
    /// `--ema-decay`: the weights' moving average (nil without it, until `run` makes it).
    public internal(set) var ema: WeightEMA? = nil
    /// The resume point's weight average, until `run` makes `ema`.
    var savedEMA: StateDict? = nil
    /// `--mixup-alpha`, `--cutmix-alpha` (nil: neither).
    var mixing: BatchMixing? { BatchMixing(config) }

    /// Optimizer steps per epoch: each process's share of the training images (DistributedSampler
    /// pads it to ceil(count / processes)) in batches of `--batch-size`, one step per
    /// `--accumulate` batches (ceil(batches / N): a last incomplete group steps too).
    public var stepsPerEpoch: Int {
        let share = (data.train.count + cluster.size - 1) / max(cluster.size, 1)
        let batches = (share + config.batchSize - 1) / max(config.batchSize, 1)
        return max(1, GradientAccumulator.steps(batches: batches, every: config.accumulate ?? 1))
    }

    /// `model` comes frozen as the run asks (`Finetune.makeModel`).
    public init(config: TrainConfig, data: ImageFolder, model: Network) {
        self.config = config
        self.data = data
        self.model = model
        optimizer = Optimizer(config.optimizer)
    }

    var trainLoader: BatchLoader {
        BatchLoader(samples: data.train, augment: config.augment, imageSize: config.trainingCrop, resize: config.resize,
                    seed: config.seed, workers: config.workers, augmentation: config.augmentation)
    }
    var valLoader: BatchLoader {
        BatchLoader(samples: data.val, augment: false, imageSize: config.imageSize, resize: config.resize,
                    seed: config.seed, workers: config.workers)
    }

    /// Trains epochs `start..<end` (all of them by default).
    public func run(from start: Int = 0, until end: Int? = nil) throws {
        // A frozen trunk in eval mode on unaugmented images computes the same head inputs every
        // epoch: compute them once, then train the head alone on them.
        var featureCache: (train: [Int: [Float]], val: [Int: [Float]])? = nil
        applyPhase(start)   // what trains first, and at which rates (--head-epochs, --lr-backbone, --lr-slice)
        startGradientAveraging()
        if schedule == nil {
            var s = LRScheduler(config, stepsPerEpoch: savedSchedule?.stepsPerEpoch ?? stepsPerEpoch)
            if let saved = savedSchedule { s.state = saved }
            schedule = s
        }
        let classWeights = lossWeights   // --class-weights, from the training split's counts
        // A resumed run that had already met --patience trains no further.
        earlyStop = EarlyStop.check(history, monitor: config.monitor ?? .valAccuracy, patience: config.patience)
        for epoch in start..<min(end ?? config.epochs, config.epochs) {
            // Every rank decides from the same shared figures, so every rank stops at once.
            if earlyStop != nil { break }
            if applyPhase(epoch) {
                // --head-epochs is over: more layers train, so the cached head inputs are stale
                // and the gradients to average are others.
                featureCache = nil
                reducer = nil
                startGradientAveraging()
            }
            // Not with --mixup-alpha/--cutmix-alpha: a mixed image's features are not the mix of its images' features.
            if featureCache == nil && model.trunkIsFrozen && model.frozenBN == .eval && !config.augment && mixing == nil {
                log("computing the frozen trunk's features once (" + (config.isHeadPhase(epoch) ? "--head-epochs" : "--train fc") + " --no-augment)")
                // Under mpirun each rank computes every N-th image's; the training ones are then
                // shared (each epoch's shares differ), the validation ones are the rank's own share.
                featureCache = (try allHeadInputs(headInputs(loader: trainLoader)), try headInputs(loader: valLoader, val: true))
            }
            let t0 = Date()
            try startAverage()   // --ema-decay: made (or restored) once, tracks what trains from this epoch
            optimizer.lr = schedule!.lr(epoch: epoch, batch: 0)
            let order = epochOrder(epoch)
            let share = DistributedSampler.shard(order, rank: cluster.rank, size: cluster.size)
            let batches = DistributedSampler.batches(share, batchSize: config.batchSize)
            var lossSum = 0.0, seen = 0
            let accumulator = GradientAccumulator(every: config.accumulate ?? 1)   // --accumulate
            var group = (loss: 0.0, images: 0)
            if let cache = featureCache {
                for (b, batch) in batches.enumerated() {
                    let x = batch.flatMap { cache.train[$0]! }
                    let labels = batch.map { data.train[$0].label }
                    if accumulator.every == 1 { reducer?.begin() }
                    model.dropoutStream = [UInt64(epoch), UInt64(b), UInt64(cluster.rank)]  // a resumed run draws the same masks
                    let (loss, _) = try model.trainStep(headInputs: x, labels: labels, labelSmoothing: Float(config.labelSmoothing),
                                                        classWeights: classWeights)
                    if accumulator.every == 1 { reducer?.finish() }
                    try stepAfter(b, of: batches.count, epoch: epoch, loss: loss, images: labels.count, accumulator, &group)
                    lossSum += Double(loss) * Double(labels.count); seen += labels.count
                    progress?("train epoch[\(epoch + 1)/\(config.epochs)] \(b + 1)/\(batches.count) loss:\(String(format: "%.3f", loss))")
                }
            } else {
                let loader = trainLoader
                try forEachBatch(batches, loader: loader, epoch: epoch) { b, batch in
                    let h = loader.imageSize                    // --train-crop
                    let loss = try forwardBackward(batch, epoch: epoch, index: b, side: h, classWeights: classWeights,
                                                   averagesNow: accumulator.every == 1)
                    try stepAfter(b, of: batches.count, epoch: epoch, loss: loss, images: batch.labels.count, accumulator, &group)
                    lossSum += Double(loss) * Double(batch.labels.count); seen += batch.labels.count
                    progress?("train epoch[\(epoch + 1)/\(config.epochs)] \(b + 1)/\(batches.count) loss:\(String(format: "%.3f", loss))")
                }
            }
            // A group whose last batch was skipped (unreadable images) steps with what it has.
            if accumulator.flush(model.parameters) {
                try step(epoch: epoch, groupIndex: (batches.count - 1) / accumulator.every, accumulator, &group)
            }
            try checkClassesStillHaveImages()
            (lossSum, seen) = reducedTrainingFigures(lossSum, seen)
            try synchronizeReplicas(afterEpoch: epoch + 1)
            let (valLoss, valAcc) = try validate(cache: featureCache?.val)
            // --ema-decay: the average validated too (the model's pass stays `lastValidation`).
            var average: (loss: Double, accuracy: Double, record: ValidationRecord?)? = nil
            if let e = ema {
                synchronizeAverage()
                let own = lastValidation
                average = try e.withAverage(in: model) { let (l, a) = try validate(cache: featureCache?.val); return (l, a, lastValidation) }
                lastValidation = own
            }
            // Every rank shares the reduced val loss, so every rank's plateau decides alike.
            schedule!.endEpoch(epoch, valLoss: valLoss)
            let seconds = Date().timeIntervalSince(t0)
            var m = EpochMetrics(epoch: epoch + 1, lr: optimizer.lr, trainLoss: lossSum / Double(max(seen, 1)), valLoss: valLoss,
                                 valAccuracy: valAcc, seconds: seconds, imagesPerSecond: Double(seen) / seconds, skippedImages: unreadable.count)
            let useAverage = average.map { averageIsBetter(model: (valLoss, valAcc), average: ($0.loss, $0.accuracy)) } ?? false
            if let a = average { (m.emaValLoss, m.emaValAccuracy, m.emaChosen) = (a.loss, a.accuracy, useAverage) }
            history.append(m)
            beforeEpochLine?().forEach(log)
            log(String(format: "[epoch %d] train_loss: %.3f  val_loss: %.3f  val_accuracy: %.3f  (%.1f s, %.1f images/s)",
                       m.epoch, m.trainLoss, m.valLoss, m.valAccuracy, m.seconds, m.imagesPerSecond))
            if let a = average {
                log(String(format: "[epoch %d] ema val_loss: %.3f  val_accuracy: %.3f%@", m.epoch, a.loss, a.accuracy,
                           useAverage ? "  (better: the average is this epoch's candidate)" : ""))
            }
            // The epoch's candidate: the model, or its average when that validates better.
            let candidate = useAverage ? average!.accuracy : valAcc
            if savedEpoch == nil || candidate > bestAccuracy {
                bestAccuracy = candidate
                if cluster.isRoot { try (useAverage ? ema!.withAverage(in: model) { savedModel() } : savedModel()).write(to: config.output) }
                savedEpoch = epoch + 1
                bestValidation = useAverage ? average!.record : lastValidation
            }
            earlyStop = EarlyStop.check(history, monitor: config.monitor ?? .valAccuracy, patience: config.patience)
            if let stop = earlyStop { log("stopping early after epoch \(stop.epoch): \(stop.reason)") }
            // Only rank 0 writes (every rank holds the same weights and figures).
            guard cluster.isRoot else { continue }
            try writeMetrics()
            try report?.write(trainer: self)
            // Before the resume point: a run stopped between the two repeats this epoch on
            // --resume, and the observer sees it twice rather than never.
            try onEpoch?(m)
            try ResumeState(trainer: self, nextEpoch: epoch + 1).write(for: config)
        }
        if let r = reducer, cluster.isRoot, r.timing.steps > 0 { log(dataParallelSummary(r)) }
    }

    /// Averaging of the trainable gradients over the processes (under mpirun). With
    /// `--accumulate` N > 1 they are averaged once per optimizer step, on the group's sum
    /// (`step`), not during each batch's backward.
    private func startGradientAveraging() {
        startDataParallel()
        if (config.accumulate ?? 1) > 1 { model.onGradientsReady = nil }
    }

    /// Freezes what epoch `epoch` (from 0) does not train (the trunk during `--head-epochs`,
    /// then what `--train` says) and sets each trainable parameter's rate (`--lr-backbone`,
    /// `--lr-slice`). Returns whether what trains changed.
    @discardableResult
    func applyPhase(_ epoch: Int) -> Bool {
        let policy = config.freezePolicy(epoch: epoch)
        let changed = policy != model.freezePolicy
        if changed {
            model.freeze(policy)
            if !config.isHeadPhase(epoch) && epoch > 0 {
                let n = model.parameters.filter(\.trainable).reduce(0) { $0 + $1.count }
                log("epoch \(epoch + 1): the head-only phase (--head-epochs \(config.headEpochs ?? 0)) is over; --train \(config.policy.rawValue) "
                    + "trains from here: \(n) trainable parameters" + (ratesDescription.map { ", \($0)" } ?? ""))
            }
        }
        optimizer.lrFactors = Self.lrFactors(model: model, config: config)
        return changed
    }

    /// Each trainable parameter's rate relative to `--lr`: `--lr-backbone` / lr for every one
    /// outside the head, or fastai's slice(LOW, lr) over the layer groups (the family's stages,
    /// then the head): group k of G at LOW x (lr / LOW)^(k / (G - 1)).
    static func lrFactors(model: Network, config: TrainConfig) -> [String: Double] {
        let lr = config.optimizer.lr, head = model.architecture.stageCount
        var factors: [String: Double] = [:]
        for p in model.parameters where p.trainable {
            let g = model.layerGroup(of: p)
            guard g < head else { continue }
            if let b = config.lrBackbone { factors[p.name] = b / lr }
            else if let low = config.lrSlice { factors[p.name] = low * pow(lr / low, Double(g) / Double(head)) / lr }
        }
        return factors
    }

    /// The trunk's rates when they are not --lr, for the log and the report: `the trunk at 1e-05, the
    /// head at 0.001` or `stage rates 1e-05, 3.16e-05, 0.0001, 0.000316, the head at 0.001`.
    var ratesDescription: String? {
        if let b = config.lrBackbone { return "the trunk at \(b), the head at \(config.optimizer.lr)" }
        guard let low = config.lrSlice else { return nil }
        let head = model.architecture.stageCount
        let rates = (0..<head).map { String(format: "%.3g", low * pow(config.optimizer.lr / low, Double($0) / Double(head))) }
        return "stage rates " + rates.joined(separator: ", ") + ", the head at \(config.optimizer.lr)"
    }

    /// One batch forward and backward as training runs it: the dropout masks' stream, the mixing
    /// (--mixup-alpha, --cutmix-alpha), the loss's weights and smoothing, and under mpirun the
    /// gradients averaged as backward makes them when `averagesNow` (every batch steps). The
    /// batch's loss. The LR range test trains through it too.
    func forwardBackward(_ batch: BatchLoader.Batch, epoch: Int, index b: Int, side h: Int, classWeights: [Float]?,
                         averagesNow: Bool) throws -> Float {
        if averagesNow { reducer?.begin() }
        model.dropoutStream = [UInt64(epoch), UInt64(b), UInt64(cluster.rank)]
        let (images, targets) = mixed(batch, epoch: epoch, index: b, side: h)
        let (loss, _) = try images.withUnsafeBufferPointer {
            try model.trainStep(images: $0, labels: batch.labels, batch: batch.labels.count, height: h, width: h,
                                labelSmoothing: Float(config.labelSmoothing), classWeights: classWeights, softTargets: targets)
        }
        if averagesNow { reducer?.finish() }
        return loss
    }

    /// After batch `b`'s backward: adds it to `--accumulate`'s group and steps when the group is complete.
    private func stepAfter(_ b: Int, of count: Int, epoch: Int, loss: Float, images: Int, _ accumulator: GradientAccumulator,
                           _ group: inout (loss: Double, images: Int)) throws {
        group.loss += Double(loss) * Double(images); group.images += images
        guard accumulator.add(model.parameters, end: accumulator.endsGroup(b, of: count)) else { return }
        try step(epoch: epoch, groupIndex: b / accumulator.every, accumulator, &group)
    }

    /// One optimizer step on the gradients in the parameters: under mpirun with `--accumulate`
    /// N > 1 averaged over the processes here (once per step; with N = 1 during backward), then
    /// clipped (`--clip-grad-norm`), at the schedule's rate for the epoch's `groupIndex`-th step.
    /// `onStep` gets the group's mean loss.
    private func step(epoch: Int, groupIndex: Int, _ accumulator: GradientAccumulator, _ group: inout (loss: Double, images: Int)) throws {
        if accumulator.every > 1, let r = reducer { r.begin(); r.finish() }
        clipGradients()
        optimizer.lr = schedule!.lr(epoch: epoch, batch: groupIndex)
        optimizer.step(model.parameters)
        ema?.update(from: model)   // --ema-decay: after every optimizer step, as timm's ModelEmaV2.update
        globalStep += 1
        try onStep?(globalStep, group.loss / Double(max(group.images, 1)))
        group = (0, 0)
    }

    /// `--clip-grad-norm`, on the gradients the step will take (under mpirun the averaged
    /// ones, the same on every rank).
    private func clipGradients() {
        if let maxNorm = config.clipGradNorm { GradientClipping.clip(model.parameters, maxNorm: maxNorm) }
    }

    /// The model as `--output` holds it: floating-point tensors in `--save-dtype`.
    func savedModel() -> StateDict {
        let sd = model.stateDict()
        guard let dtype = DType(rawValue: config.saveDType), dtype != .float32 else { return sd }
        return StateDict(sd.items.map { ($0.key, $0.value.converted(to: dtype)) })
    }

    /// Runs `body` on each loaded batch while the next one is decoded in the background
    /// (`BatchPipeline`). `val`: the loader reads `data.val` (its failures are indices into it),
    /// else `data.train`.
    private func forEachBatch(_ batches: [[Int]], loader: BatchLoader, val isVal: Bool = false, epoch: Int,
                              _ body: (Int, BatchLoader.Batch) throws -> Void) throws {
        let pipeline = BatchPipeline(count: batches.count) { b in loader.load(batches[b], epoch: epoch) }
        try pipeline.run { b, current in
            // Under mpirun every process must take the same steps: an unreadable image stops the job.
            if cluster.isDistributed, let (i, e) = current.failures.first {
                throw TrainingError.unreadableInJob(path: (isVal ? data.val[i] : data.train[i]).path, reason: "\(e)")
            }
            for (i, e) in current.failures where (isVal ? unreadableVal[i] : unreadable[i]) == nil {
                if isVal { unreadableVal[i] = "\(e)" } else { unreadable[i] = "\(e)" }
                warn("skipping an unreadable image: \(e)")
            }
            if !current.labels.isEmpty { try body(b, current) }
        }
    }

    /// Mean cross-entropy and accuracy over the validation set (eval mode).
    func validate(cache: [Int: [Float]]?) throws -> (Double, Double) {
        lastValidation = nil
        guard !data.val.isEmpty else { return (0, 0) }
        var record = ValidationRecord()
        // Each process validates every N-th image (no padding): the figures are reduced below.
        let mine = DistributedSampler.unpadded(data.val.count, rank: cluster.rank, size: cluster.size)
        let batches = DistributedSampler.batches(mine, batchSize: config.batchSize)
        var lossSum = 0.0, correct = 0, total = 0
        func account(_ logits: [Float], _ labels: [Int], _ indices: [Int]) throws {
            let k = model.numClasses
            let probabilities = try Softmax.forward(logits, rows: labels.count, cols: k)
            for r in labels.indices {
                record.indices.append(indices[r])
                record.labels.append(labels[r])
                record.probabilities.append(Array(probabilities[(r * k)..<((r + 1) * k)]))
            }
            let (loss, _) = try SoftmaxCrossEntropyLoss.lossAndGradient(logits: logits, labels: labels, classes: k)
            lossSum += Double(loss) * Double(labels.count)
            for (r, label) in labels.enumerated() {
                let row = logits[(r * k)..<((r + 1) * k)]
                if row.indices.max(by: { row[$0] < row[$1] })! - r * k == label { correct += 1 }
            }
            total += labels.count
        }
        if let cache = cache {
            for batch in batches {
                let ok = batch.filter { cache[$0] != nil }
                guard !ok.isEmpty else { continue }
                try account(model.evalLogits(headInputs: ok.flatMap { cache[$0]! }, rows: ok.count), ok.map { data.val[$0].label }, ok)
            }
        } else {
            let h = config.imageSize
            try forEachBatch(batches, loader: valLoader, val: true, epoch: 0) { b, batch in
                progress?("valid \(b + 1)/\(batches.count)")
                let logits = try batch.images.withUnsafeBufferPointer {
                    try model.evalLogits(images: $0, batch: batch.labels.count, height: h, width: h)
                }
                try account(logits, batch.labels, batch.indices)
            }
        }
        var figures = [lossSum, Double(correct), Double(total)]
        cluster.allreduceSum(&figures)
        (lossSum, correct, total) = (figures[0], Int(figures[1]), Int(figures[2]))
        lastValidation = gathered(record)
        return (lossSum / Double(max(total, 1)), Double(correct) / Double(max(total, 1)))
    }

    /// Each sample's head input, computed once (the trunk is frozen and deterministic): under
    /// mpirun, this rank's share (every N-th sample).
    private func headInputs(loader: BatchLoader, val: Bool = false) throws -> [Int: [Float]] {
        var out: [Int: [Float]] = [:]
        let mine = DistributedSampler.unpadded(loader.samples.count, rank: cluster.rank, size: cluster.size)
        let batches = DistributedSampler.batches(mine, batchSize: max(config.batchSize, 32))
        let h = loader.imageSize
        try forEachBatch(batches, loader: loader, val: val, epoch: 0) { b, batch in
            progress?("features \(b + 1)/\(batches.count)")
            let x = try batch.images.withUnsafeBufferPointer { try model.headInputs(images: $0, batch: batch.labels.count, height: h, width: h) }
            let per = x.count / batch.labels.count
            for (i, index) in batch.indices.enumerated() { out[index] = Array(x[(i * per)..<((i + 1) * per)]) }
        }
        return out
    }

    private func checkClassesStillHaveImages() throws {
        for (label, name) in data.classes.enumerated() {
            let alive = data.train.indices.contains { data.train[$0].label == label && unreadable[$0] == nil }
            if !alive { throw ImageFolder.Failure.noReadableImages(className: name, classes: data.classes) }
        }
    }

    func writeMetrics() throws {
        var report = MetricsReport(config: config, classes: data.classes, trainImages: data.train.count, valImages: data.val.count,
                                   bestValAccuracy: bestAccuracy,
                                   unreadableImages: unreadable.keys.sorted().map { data.train[$0].path }
                                       + unreadableVal.keys.sorted().map { data.val[$0].path },
                                   epochs: history,
                                   bestEpochEvaluation: try bestEvaluation().map { BestEpochEvaluation(epoch: savedEpoch ?? 0, $0) },
                                   convolutionAlgorithms: model.convolutionTuner.decisions.isEmpty ? nil : model.convolutionTuner.decisions)
        report.distributed = distributedSummary
        report.earlyStop = earlyStop
        report.savedWeights = savedWeights
        try report.write(to: config.metrics)
    }

    /// scikit-learn's figures for the saved model on val, or nil when none was validated here.
    public func bestEvaluation() throws -> ClassificationReport? {
        guard let v = bestValidation, !v.labels.isEmpty else { return nil }
        return try ClassificationReport(classNames: data.classes, labels: v.labels, probabilities: v.probabilities)
    }

    func restore(history: [EpochMetrics], best: Double, savedEpoch: Int?, unreadable: [Int: String], globalStep: Int,
                 bestValidation: ValidationRecord? = nil, schedule: ScheduleState? = nil) {
        self.bestValidation = bestValidation
        savedSchedule = schedule
        self.schedule = nil
        self.history = history
        self.globalStep = globalStep
        bestAccuracy = best
        self.savedEpoch = savedEpoch
        self.unreadable = unreadable
    }
}

/// One validation pass, sample by sample: indices into `data.val` (unreadable images are
/// left out), true labels, and softmax probability rows (`Softmax.forward` of the logits).
public struct ValidationRecord: Codable, Sendable, Equatable {
    public var indices: [Int] = []
    public var labels: [Int] = []
    public var probabilities: [[Float]] = []
}
