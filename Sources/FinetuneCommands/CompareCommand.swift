import ArgumentParser
import CLISupport
import Foundation
import Imaging
import Training

/// `graft compare`: the tutorials' homework (fine-tune other models on the same data, compare
/// their time and accuracy) in one command.
public struct CompareCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Fine-tune several models on the same data with the same recipe, split and seed, and compare them in one table.",
        discussion: """
            --weights takes a comma-separated list (names, NAME:VERSION, files); every other option is finetune's and applies to every model alike. The models train one after another (under mpirun each data-parallel on all the processes), each in its own folder under --out-dir (named after its weights: compare/resnet18/ holds resNet18.pth, class_indices.json, metrics.json, report.html, as finetune writes them). After each, its saved model is timed for inference (f32, batch 32 and one image, random images at --image-size) and the table, compare.json and compare.html (the curves overlaid, the table, each model's confusion matrix at its best epoch) are rewritten.

            Interrupted, the same command continues: the models finished are kept, the one it was on resumes from its last finished epoch. A folder that holds a comparison with other settings (recipe, data, list of models) is refused.

            Table columns: best val accuracy and its epoch, epochs trained, training seconds (validation included) and images/s, inference images/s at batch 32, one image's latency in ms, parameters (weights and biases), file size.

            Examples:
              graft compare --weights resnet18,mobilenet_v3_large,vgg16 --classes 5 flower_data
              graft compare --weights resnet34,mobilenet_v2 --classes 5 --train fc --epochs 5 --json flower_data
            """)

    @OptionGroup var options: FinetuneCommandOptions

    @Option(help: ArgumentHelp("Where each model's folder, compare.json and compare.html go (made if missing).", valueName: "dir"))
    var outDir = "compare"

    @Flag(help: "Print the table as JSON (an array, one object per model: snake-case keys) instead of text; the runs' lines go to standard error.")
    var json = false

    public init() {}

    public func validate() throws {
        _ = try Comparison.models(options.model.weights)
        if options.output.output != nil { throw ValidationError(ComparisonError.optionPerModel("--output").description) }
        if options.output.report != nil { throw ValidationError(ComparisonError.optionPerModel("--report").description) }
        if options.output.tensorboard != nil { throw ValidationError(ComparisonError.optionPerModel("--tensorboard").description + " (its report.html has the curves)") }
        if options.output.classIndices != "class_indices.json" { throw ValidationError(ComparisonError.optionPerModel("--class-indices").description) }
        if options.output.metrics != "metrics.json" { throw ValidationError(ComparisonError.optionPerModel("--metrics").description) }
        if options.output.resume { throw ValidationError("graft compare continues an interrupted comparison by itself: run the same command again, without --resume") }
        if options.findLR.findLR { throw ValidationError("--find-lr is finetune's: run it on one model (finetune --find-lr --weights NAME ...)") }
    }

    public func run() throws {
        ConvolutionCacheSetting.useStandard()
        let (cluster, decodeThreads) = ClusterLaunch.start()
        try reportingErrors {
            // With --json standard output is the JSON alone: the runs' lines go to standard error.
            let console = json ? ProgressConsole(interactive: false) : ProgressConsole()
            let root = cluster.isRoot
            let toError: (String) -> Void = { FileHandle.standardError.write(Data((TerminalText.escaped($0) + "\n").utf8)) }
            let log: (String) -> Void = root ? (json ? toError : console.log) : { _ in }
            let weights = try Comparison.models(options.model.weights)
            var base = options.config(given: Array(CommandLine.arguments.dropFirst()))
            if options.dataOptions.workers == nil, let share = decodeThreads { base.workers = min(base.workers, share) }
            let folders = Comparison.folders(weights, root: outDir)
            let settings = Comparison.settings(base)
            var record = ComparisonRecord(settings: settings, data: base.data, weights: weights, imageSize: base.imageSize)
            if let saved = try Comparison.readRecord(outDir) {
                guard saved.settings == settings, saved.weights == weights, saved.data == base.data else {
                    throw ComparisonError.otherSettings(folder: outDir)
                }
                record = saved
                if !saved.done.isEmpty && saved.done.count < weights.count {
                    log("continuing the comparison in \(outDir): \(saved.done.count) of \(weights.count) models done")
                }
            }
            if root {
                try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
                try Comparison.write(record, root: outDir)
            }
            let first = record.done.count
            var metrics = try record.done.map { try Comparison.readMetrics(($0.folder.hasSuffix("/") ? $0.folder : $0.folder + "/") + "metrics.json") }
            for (i, w) in weights.enumerated() where i >= first {
                let folder = folders[i]
                if root { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                cluster.barrier()
                var c = base
                // Names resolve (and download) on rank 0 first, as finetune's do.
                if !root { cluster.barrier() }
                c.weights = w == "none" ? nil : try options.source.resolve(w).path
                if root { cluster.barrier() }
                c.classIndices = folder + "/class_indices.json"
                c.metrics = folder + "/metrics.json"
                let resume = Comparison.hasResumePoint(folder)
                log("== \(i + 1) of \(weights.count): \(w), in \(folder)/" + (resume ? " (continuing its interrupted run)" : ""))
                let report = root && !options.output.noReport ? ReportWriter(path: folder + "/report.html") : nil
                let job = try Finetune.run(c, output: nil, folder: folder, resume: resume,
                                           allowObjects: options.read.allowObjects, limits: options.read.limits, report: report,
                                           cluster: cluster, syncBatchNorm: options.training.syncBN,
                                           log: log, warn: root ? console.warning : { _ in }, progress: root ? console.progress : nil,
                                           observe: root ? try options.observer(log: log) : nil)
                if root {
                    let m = try Comparison.readMetrics(job.config.metrics)
                    record.done.append(try Comparison.entry(weights: w, folder: folder, metrics: m, imageSize: c.imageSize))
                    metrics.append(m)
                    try Comparison.write(record, root: outDir)
                    try Comparison.writePage(record, metrics: metrics, root: outDir)
                    let e = record.done[record.done.count - 1]
                    log(String(format: "%@: best val accuracy %.4f, inference %.1f images/s at batch 32, %.2f ms for one image",
                               e.model, e.bestValAccuracy, e.inferenceImagesPerSecond, e.latencyMilliseconds))
                }
                cluster.barrier()
            }
            if root {
                if metrics.count == record.done.count, first == weights.count {
                    // Everything was done before: the page again, in case it is missing.
                    try Comparison.writePage(record, metrics: metrics, root: outDir)
                }
                print(json ? try Comparison.json(record.done) : Comparison.table(record.done))
                if !json { console.log("\(Comparison.pagePath(outDir)), \(Comparison.recordPath(outDir)); each model's files in its folder") }
            }
        }
        cluster.finalize()
    }
}
