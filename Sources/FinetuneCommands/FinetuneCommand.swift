import ArgumentParser
import CLISupport
import Imaging
import Training

public struct FinetuneCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: Invocation.name("finetune"),
        abstract: "Fine-tune a torchvision classifier (ResNet, VGG, MobileNet) on a folder of images, as the tutorial's train.py does.",
        discussion: """
            DATA is laid out as the tutorial's split script makes it: DATA/train/<class>/*.jpg with DATA/val/ (or valid/, validation/) beside it; or DATA/<class>/*.jpg, split by --val-split. Classes are the folder names, sorted. Symbolic links are followed, but no folder is read twice and no image is counted under a class folder other than its own; files that cannot be images (empty, not JPEG or PNG inside, a broken link) are left out with a warning on standard error. Without a val folder, --val-split holds out at least one image of every class (each class needs two or more). Everything (data, weights, precision, output folders) is checked before any file is written. Writes the model with the best val accuracy (resNet34.pth for a resnet34, loadable by torch.load and torchvision), class_indices.json and metrics.json in the current folder; --resume continues an interrupted run.

            Under Open MPI's mpirun -np N it trains data-parallel as PyTorch's DistributedDataParallel: each process takes every N-th image of each epoch's shuffle (DistributedSampler) and --batch-size of them per step, gradients are averaged over the processes, validation is shared out. Every process needs DATA and the weights at the same path; only rank 0 prints and writes files. An unreadable image stops the whole job.

            Examples:
              finetune --weights resnet34 --classes 5 flower_data
              finetune --weights resnet34-pre.pth --classes 5 flower_data
              finetune --weights resnet50:IMAGENET1K_V2 --classes 5 --train fc --no-augment --epochs 10 flower_data
              finetune --weights none --arch resnet18 --classes 10 --image-size 32 --resize 32 data
              mpirun -np 4 finetune --weights resnet34 --classes 5 --batch-size 8 flower_data
            """,
        version: Invocation.version("finetune"))

    @OptionGroup var options: FinetuneCommandOptions

    public init() {}

    public func run() throws {
        ConvolutionCacheSetting.useStandard()
        let (cluster, decodeThreads) = ClusterLaunch.start()
        try reportingErrors {
            let console = ProgressConsole()
            // Under mpirun only rank 0 prints (every rank holds the same figures).
            let root = cluster.isRoot
            var config = options.config(given: Array(CommandLine.arguments.dropFirst()))   // --recipe's preset where no option is given
            // Under mpirun the default decoding threads fit this process's share of the cores.
            if options.dataOptions.workers == nil, let share = decodeThreads { config.workers = min(config.workers, share) }
            let observe = root ? try options.observer(log: console.log) : nil
            // torchvision's weights by name: the file in torch.hub's cache, downloaded when missing.
            // Under mpirun rank 0 resolves (and downloads) first; the others find the file then.
            if !root { cluster.barrier() }
            if let w = config.weights { config.weights = try options.source.resolve(w).path }
            if root { cluster.barrier() }
            if options.findLR.findLR {
                // --find-lr: the range test instead of training; no model is written.
                let (json, page) = options.findLR.paths(options.output)
                try Finetune.findLearningRate(config, settings: options.findLR.settings, json: json, page: page,
                                              allowObjects: options.read.allowObjects, limits: options.read.limits,
                                              cluster: cluster, syncBatchNorm: options.training.syncBN,
                                              log: root ? console.log : { _ in }, warn: root ? console.warning : { _ in },
                                              progress: root ? console.progress : nil,
                                              observe: root ? { ConvolutionSummary.attach(to: $0, verbose: options.output.verbose, log: console.log) } : nil)
                return
            }
            try Finetune.run(config, output: options.output.output, resume: options.output.resume,
                             allowObjects: options.read.allowObjects, limits: options.read.limits,
                             report: root ? options.output.reportWriter(metrics: config.metrics) : nil,
                             cluster: cluster, syncBatchNorm: options.training.syncBN,
                             log: root ? console.log : { _ in }, warn: root ? console.warning : { _ in },
                             progress: root ? console.progress : nil, observe: observe)
        }
        cluster.finalize()
    }
}
