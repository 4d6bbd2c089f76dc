import Checkpoint
import Cluster
import Engine
import Foundation
import Inference

/// What `finetune --find-lr` found: written as lr_find.json (snake-case keys, sorted), and
/// drawn in lr_find.html (`LRFinderPage`).
public struct LRFinderResult: Codable, Sendable {
    /// The run the test trained as (its model, policy, optimizer, augmentation...).
    public var config: TrainConfig
    public var settings: LRRangeTest.Settings
    /// Each step's rate, the batch's mean loss (under mpirun over every process's batch) and
    /// the smoothed loss fastai plots.
    public var lrs: [Double]
    public var losses: [Float]
    public var smoothedLosses: [Float]
    public var stop: LRRangeTest.Stop
    /// fastai's suggestions (nil when too few steps were kept: the loss diverged at once).
    public var suggestions: LRRangeTest.Suggestions?
    public var processes: Int
    /// The command that ran the test, and the one to train with the suggestion.
    public var commandLine: [String]
    public var suggestedCommandLine: [String]?

    /// The closing lines: the suggestion and the command that uses it.
    public var summary: [String] {
        let stopped: String
        switch stop {
        case .steps: stopped = "ran its \(lrs.count) steps"
        case .diverged: stopped = "stopped after \(lrs.count) steps: the smoothed loss exceeded 4x its best"
        case .noData: stopped = "stopped after \(lrs.count) steps: no training image could be read"
        }
        guard let s = suggestions else {
            return ["LR range test \(stopped), rates \(Self.text(settings.start)) to \(Self.text(lrs.last ?? settings.start)): too few steps to suggest a rate "
                    + "(fastai leaves out the first steps/10 and the last 5). Give a lower --find-lr-end or --find-lr-start, or more --find-lr-steps."]
        }
        var lines = ["LR range test \(stopped), rates \(Self.text(settings.start)) to \(Self.text(lrs.last ?? settings.start)).",
                     "Suggested learning rate: \(Self.text(s.valley.lr)) (fastai's valley); minimum/10: \(Self.text(s.minimum.lr)), steep: \(Self.text(s.steep.lr))."]
        if let c = suggestedCommandLine { lines.append("Train with it: " + Self.shellQuoted(c)) }
        return lines
    }

    /// A rate as --lr takes it: three significant digits.
    public static func text(_ lr: Double) -> String { String(format: "%.3g", lr) }

    /// `args` with `--find-lr` and its options and any `--lr` taken out and `--lr lr` added: the
    /// training run the suggestion is for.
    public static func trainingCommand(_ args: [String], lr: Double) -> [String] {
        var out: [String] = []
        var i = 0
        let withValue: Set<String> = ["--lr", "--find-lr-start", "--find-lr-end", "--find-lr-steps"]
        while i < args.count {
            let a = args[i]
            if a == "--find-lr" { i += 1; continue }
            if withValue.contains(a) { i += 2; continue }
            if withValue.contains(where: { a.hasPrefix($0 + "=") }) { i += 1; continue }
            out.append(a); i += 1
        }
        // At the end (ArgumentParser takes options after the data folder), so that `graft
        // finetune ...` keeps its subcommand first; before a `--`, after which nothing is an option.
        out.insert(contentsOf: ["--lr", text(lr)], at: out.firstIndex(of: "--") ?? out.count)
        return out
    }

    /// Arguments as a POSIX shell reads them back: plain ones as they are, others in single quotes.
    public static func shellQuoted(_ args: [String]) -> String {
        let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        return args.map { a in
            !a.isEmpty && a.unicodeScalars.allSatisfy(plain.contains) ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = ResumeState.nonFinite
        try TemporaryFile.write(encoder.encode(self), to: path)
    }
}

/// Ends the batch pipeline once the range test is done.
private struct RangeTestDone: Error {}

extension Trainer {
    /// `--find-lr`: fastai's LR range test (`LRRangeTest`) on the training batches, with this
    /// run's policy, optimizer, loss (label smoothing, class weights), augmentation (mixup and
    /// cutmix too, drawn as training draws them), clipping, accumulation and sampler; epochs follow each other as training's do (each shuffled by
    /// --seed) until the test ends. Under mpirun every process steps together: gradients are
    /// averaged as in training, the recorded loss is the mean over every process's batch, so
    /// every process stops at the same step. The model, its running statistics and the optimizer
    /// are restored afterwards (fastai's `after_fit`); nothing is written here.
    public func findLearningRate(_ settings: LRRangeTest.Settings) throws -> LRRangeTest {
        var test = LRRangeTest(settings)
        let savedValues = model.parameters.map { Array($0.value) }
        let savedStatistics = model.runningStatistics, savedCounts = model.batchesTracked
        let savedOptimizer = (buffers: optimizer.buffers, steps: optimizer.steps, lr: optimizer.lr)
        defer {
            for (p, v) in zip(model.parameters, savedValues) { _ = p.value.update(fromContentsOf: v); p.grad.update(repeating: 0) }
            model.weightsChanged()   // cached copies of the weights (folded or converted) go
            model.runningStatistics = savedStatistics
            model.batchesTracked = savedCounts
            optimizer.restore(buffers: savedOptimizer.buffers, steps: savedOptimizer.steps, lr: savedOptimizer.lr)
        }
        startDataParallel()
        if (config.accumulate ?? 1) > 1 { model.onGradientsReady = nil }
        // As startDataParallel leaves it, for a run that trains after the test.
        defer { if let r = reducer { model.onGradientsReady = { [unowned r] in r.ready($0) } } }
        let classWeights = lossWeights
        let accumulator = GradientAccumulator(every: config.accumulate ?? 1)
        var group = (loss: 0.0, images: 0)
        var skipped = Set<Int>()
        var epoch = 0

        /// The group's optimizer step at the test's next rate, then its record.
        func stepAndRecord() throws {
            if accumulator.every > 1, let r = reducer { r.begin(); r.finish() }
            if let maxNorm = config.clipGradNorm { GradientClipping.clip(model.parameters, maxNorm: maxNorm) }
            optimizer.lr = test.nextRate
            optimizer.step(model.parameters)
            var figures = [group.loss, Double(group.images)]
            cluster.allreduceSum(&figures)
            group = (0, 0)
            let loss = Float(figures[0] / max(figures[1], 1))
            progress?("lr_find \(test.lrs.count + 1)/\(test.steps) lr:\(LRFinderResult.text(optimizer.lr)) loss:\(String(format: "%.3f", loss))")
            if !test.record(loss: loss) { throw RangeTestDone() }
        }

        while !test.finished {
            let order = epochOrder(epoch).filter { !skipped.contains($0) }
            let share = DistributedSampler.shard(order, rank: cluster.rank, size: cluster.size)
            let batches = DistributedSampler.batches(share, batchSize: config.batchSize)
            if batches.isEmpty { test.endWithoutData(); break }
            let loader = trainLoader
            let h = loader.imageSize
            var stepped = false
            let thisEpoch = epoch
            let pipeline = BatchPipeline(count: batches.count) { b in loader.load(batches[b], epoch: thisEpoch) }
            do {
                try pipeline.run { b, batch in
                    if cluster.isDistributed, let (i, e) = batch.failures.first {
                        throw TrainingError.unreadableInJob(path: data.train[i].path, reason: "\(e)")
                    }
                    for (i, e) in batch.failures where !skipped.contains(i) {
                        skipped.insert(i)
                        warn("skipping an unreadable image: \(e)")
                    }
                    guard !batch.labels.isEmpty else { return }
                    let loss = try forwardBackward(batch, epoch: thisEpoch, index: b, side: h, classWeights: classWeights,
                                                   averagesNow: accumulator.every == 1)
                    group.loss += Double(loss) * Double(batch.labels.count); group.images += batch.labels.count
                    guard accumulator.add(model.parameters, end: accumulator.endsGroup(b, of: batches.count)) else { return }
                    stepped = true
                    try stepAndRecord()
                }
                if accumulator.flush(model.parameters) { stepped = true; try stepAndRecord() }
            } catch is RangeTestDone {
                break
            }
            if !stepped { test.endWithoutData(); break }
            epoch += 1
        }
        return test
    }
}

extension Finetune {
    /// `finetune --find-lr`: prepares the run as training would (`FinetuneJob.prepare`: data,
    /// weights, model, policy, every check), runs the range test, and (rank 0) writes the curve
    /// to `json` (lr_find.json) and the page to `page` (lr_find.html; nil: none). No model,
    /// class_indices.json, metrics.json or resume point is written. Logs the suggestion and the
    /// command line that trains with it. `observe` gets the trainer before the test (finetune's
    /// `--conv auto` summary, whose line is logged after the test).
    @discardableResult
    public static func findLearningRate(_ config: TrainConfig, settings: LRRangeTest.Settings, json: String, page: String?,
                                        commandLine: [String] = ReportWriter.invocation,
                                        allowObjects: Bool = false, limits: ReadLimits = ReadLimits(),
                                        cluster: Cluster = .single, syncBatchNorm: Bool = false,
                                        log: @escaping (String) -> Void, warn: @escaping (String) -> Void,
                                        progress: ((String) -> Void)? = nil,
                                        observe: ((Trainer) throws -> Void)? = nil) throws -> LRFinderResult {
        if cluster.isRoot {
            try FinetuneJob.checkWritable(json)
            if let p = page { try FinetuneJob.checkWritable(p) }
        }
        let job = try FinetuneJob.prepare(config, output: config.output, resume: false, allowObjects: allowObjects, limits: limits,
                                          report: nil, cluster: cluster, syncBatchNorm: syncBatchNorm, trains: false, log: log, warn: warn)
        defer { job.releaseFolders() }
        let trainer = job.trainer
        trainer.progress = progress
        try observe?(trainer)
        log("LR range test: \(settings.steps) steps, rates \(LRFinderResult.text(settings.start)) to \(LRFinderResult.text(settings.end)), "
            + "rising exponentially (fastai's lr_find); no model is saved")
        let test = try trainer.findLearningRate(settings)
        trainer.beforeEpochLine?().forEach(log)
        let suggestions = test.suggestions
        var result = LRFinderResult(config: job.config, settings: settings, lrs: test.lrs, losses: test.losses,
                                    smoothedLosses: test.smoothed, stop: test.stop ?? .steps, suggestions: suggestions,
                                    processes: cluster.size, commandLine: commandLine, suggestedCommandLine: nil)
        if let s = suggestions { result.suggestedCommandLine = LRFinderResult.trainingCommand(commandLine, lr: s.valley.lr) }
        if cluster.isRoot {
            do {
                try result.write(to: json)
                if let p = page { try TemporaryFile.write(Array(LRFinderPage(result: result).html.utf8), to: p) }
            } catch CheckpointError.writeFailed(let path, let reason) {
                throw TrainingError.cannotSave(path: path, reason: reason)
            }
        }
        result.summary.forEach(log)
        log("wrote " + ([json] + [page].compactMap { $0 }).joined(separator: ", "))
        return result
    }

    /// lr_find.json or lr_find.html beside the metrics file `metrics`.
    public static func lrFinderPath(metrics: String, name: String) -> String {
        let folder = OutputPath.folder(of: metrics)
        return folder.isEmpty ? name : (folder as NSString).appendingPathComponent(name)
    }
}
