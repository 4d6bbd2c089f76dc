import ArgumentParser
import Checkpoint
import CLISupport
import Foundation
import Imaging
import ResNet
import Training

extension TrainConfig.Policy: ExpressibleByArgument {}
extension TrainConfig.FrozenBN: ExpressibleByArgument {}
extension HeadMode: ExpressibleByArgument {}
extension LRSchedule: ExpressibleByArgument {}
extension OptimizerConfig.Kind: ExpressibleByArgument {}

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a torchvision ResNet on a folder of images, as the tutorial's train.py does.",
        discussion: """
            DATA is laid out as the tutorial's split script makes it: DATA/train/<class>/*.jpg with DATA/val/ (or valid/, validation/) beside it; or DATA/<class>/*.jpg, split by --val-split. Classes are the folder names, sorted. Symbolic links are followed, but no folder is read twice and no image is counted under a class folder other than its own; files that cannot be images (empty, not JPEG or PNG inside, a broken link) are left out with a warning on standard error. Without a val folder, --val-split holds out at least one image of every class (each class needs two or more). Everything (data, weights, precision, output folders) is checked before any file is written. Writes the model with the best val accuracy (resNet34.pth for a resnet34, loadable by torch.load and torchvision), class_indices.json and metrics.json in the current folder; --resume continues an interrupted run.

            Examples:
              finetune --weights resnet34-pre.pth --classes 5 flower_data
              finetune --weights resnet34-pre.pth --classes 5 --train fc --no-augment --epochs 10 flower_data
              finetune --weights none --arch resnet18 --classes 10 --image-size 32 --resize 32 data
            """)

    @Argument(help: "The image folder.")
    var data: String

    @Option(help: ArgumentHelp("Pretrained weights (.pth: zip, legacy or tar, e.g. torchvision's resnet34-333f7ec4.pth), or 'none' to train from scratch.", valueName: "file|none"))
    var weights: String

    @OptionGroup var read: ReadOptions

    @Option(help: "Number of classes: must equal the number of class folders.")
    var classes: Int

    @Option(help: "Architecture for --weights none: resnet18, resnet34, resnet50, resnet101, resnet152.")
    var arch: String = "resnet34"

    @Option(name: .customLong("train"), help: "What trains: all (default, as train.py), last (the last --last-stages stages and the head), fc (the head only).")
    var policy: TrainConfig.Policy = .all

    @Option(help: "With --train last: how many residual stages train (1 = layer4).")
    var lastStages: Int = 1

    @Option(help: "replace: fc becomes Linear(in, N). append: the pretrained fc stays, frozen, and Linear(1000, N) follows it.")
    var head: HeadMode = .replace

    @Option(help: "Batch norm in frozen layers: eval (running statistics, not updated) or train (what requires_grad=False alone gives).")
    var frozenBN: TrainConfig.FrozenBN = .eval

    @Option(help: "Epochs.") var epochs: Int = 3
    @Option(help: "Images per step.") var batchSize: Int = 16
    @Option(help: "Learning rate.") var lr: Double = 1e-4
    @Option(help: "adam, adamw or sgd (momentum --momentum).") var optimizer: OptimizerConfig.Kind = .adam
    @Option(help: "SGD momentum.") var momentum: Double = 0.9
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "Weight decay (L2 for adam and sgd, decoupled for adamw).") var weightDecay: Double = 0
    @Option(help: "Learning-rate schedule per epoch: none, cosine, step (x0.1 every --step-size epochs).") var schedule: LRSchedule = .none
    @Option(help: "Epochs between steps of --schedule step (default: a third of the epochs).") var stepSize: Int?
    @Option(help: "Label smoothing of the cross-entropy loss.") var labelSmoothing: Double = 0
    @Option(help: "Side of the square training crop.") var imageSize: Int = 224
    @Option(help: "Shorter side before the center crop (validation and --no-augment). Default: 256 for 224, scaled with --image-size.") var resize: Int?
    @Flag(help: "No random crop and flip: train on the validation transform (with --train fc, features are computed once).") var noAugment = false
    @Option(help: "Random seed: the same seed on the same machine gives the same run.") var seed: UInt64 = 0
    @Option(help: "Image decoding threads.") var workers: Int = 2
    @Option(help: Precision.help("convolutions in bfloat16 (f32 accumulation, activations bf16 as under PyTorch's CPU autocast), f32 master weights and optimizer.")) var precision: Precision = .f32
    @Option(help: "Fraction of each class held out for validation when DATA has no val folder.") var valSplit: Double = 0.1
    @Option(help: ArgumentHelp("The model file (default: resNet34.pth for resnet34...).", valueName: "file")) var output: String?
    @Option(help: "Floating-point dtype of the saved model: float32, or float16/bfloat16 for a file half the size.") var saveDtype: String = "float32"
    @Option(help: ArgumentHelp("Where class names go.", valueName: "file")) var classIndices: String = "class_indices.json"
    @Option(help: ArgumentHelp("Where per-epoch figures go.", valueName: "file")) var metrics: String = "metrics.json"
    @Flag(help: "Continue the interrupted run that wrote --output here, from its last finished epoch.") var resume = false

    func validate() throws {
        if classes < 1 { throw ValidationError("--classes must be at least 1") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if !(1...4).contains(lastStages) { throw ValidationError("--last-stages must be 1 to 4") }
        if imageSize < 8 { throw ValidationError("--image-size must be at least 8") }
        if !(lr > 0) { throw ValidationError("--lr must be positive") }
        if !(0..<1).contains(labelSmoothing) { throw ValidationError("--label-smoothing must be in [0, 1)") }
        if !["float32", "float16", "bfloat16"].contains(saveDtype) { throw ValidationError("--save-dtype must be float32, float16 or bfloat16") }
        try precision.validateOnThisCPU()
    }

    func run() throws {
        try reportingErrors {
            var c = TrainConfig(data: data, classes: classes)
            c.weights = weights == "none" ? nil : weights
            c.architecture = arch
            c.policy = policy; c.lastStages = lastStages; c.head = head; c.frozenBN = frozenBN
            c.epochs = epochs; c.batchSize = batchSize
            c.optimizer = OptimizerConfig(kind: optimizer, lr: lr, weightDecay: weightDecay, momentum: momentum, nesterov: nesterov)
            c.schedule = schedule; c.stepSize = stepSize ?? max(1, epochs / 3); c.labelSmoothing = labelSmoothing
            c.imageSize = imageSize; c.resize = resize ?? EvalTransform.defaultResize(crop: imageSize)
            c.augment = !noAugment; c.seed = seed; c.workers = workers; c.precision = precision.rawValue
            c.valSplit = valSplit; c.classIndices = classIndices; c.metrics = metrics; c.saveDType = saveDtype

            let interactive = isatty(STDOUT_FILENO) != 0
            var progressShown = false
            func endProgress() {
                if progressShown { print("\r\u{1B}[K", terminator: ""); fflush(stdout); progressShown = false }
            }
            let log: (String) -> Void = { line in
                endProgress()
                print(line)
                fflush(stdout)
            }
            let warning: (String) -> Void = { line in
                endProgress()
                warn(line)
            }
            let job = try FinetuneJob.prepare(c, output: output, resume: resume, allowObjects: read.allowObjects,
                                              limits: read.limits, log: log, warn: warning)
            if interactive {
                job.trainer.progress = { line in print("\r\u{1B}[K" + line, terminator: ""); fflush(stdout); progressShown = true }
            }
            try job.run()
            log(job.summary)
        }
    }
}

FinetuneCommand.main()
