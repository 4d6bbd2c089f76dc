import ArgumentParser
import CLISupport
import Imaging
import Models
import Training

extension TrainConfig.Policy: ExpressibleByArgument {}
extension TrainConfig.FrozenBN: ExpressibleByArgument {}
extension HeadMode: ExpressibleByArgument {}
extension LRSchedule: ExpressibleByArgument {}
extension Monitor: ExpressibleByArgument {}
extension OptimizerConfig.Kind: ExpressibleByArgument {}
extension ClassWeighting: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}
extension Recipe: ExpressibleByArgument {}

/// Every option of `finetune`, in the groups its `--help` shows, and the `TrainConfig` they ask for.
public struct FinetuneCommandOptions: ParsableArguments {
    @Argument(help: "The image folder.")
    public var data: String

    @OptionGroup(title: "Model") public var model: FinetuneModelOptions
    @OptionGroup(title: "Reading the weights") public var read: ReadOptions
    @OptionGroup(title: "Weights by name") public var source: WeightsSourceOptions
    @OptionGroup(title: "Data") public var dataOptions: FinetuneDataOptions
    @OptionGroup(title: "Training") public var training: TrainingOptions
    @OptionGroup(title: "Output") public var output: FinetuneOutputOptions
    @OptionGroup(title: "Learning-rate range test") public var findLR: FindLROptions

    public init() {}

    public func validate() throws {
        try findLR.validate(with: output)
        if let n = training.headEpochs, n > 0 {
            if model.policy == .fc {
                throw ValidationError("--head-epochs trains the head alone first, then what --train says: with --train fc the head is all that trains, so there is no second phase. Give --train all or last, or leave out --head-epochs.")
            }
            if n >= training.epochs {
                throw ValidationError("--head-epochs \(n) leaves none of --epochs \(training.epochs) for the second phase: --epochs counts both phases (e.g. --head-epochs 1 --epochs 5 trains the head for 1 epoch, then --train \(model.policy.rawValue) for 4)")
            }
        }
        if (training.lrBackbone != nil || training.lrSlice != nil) && model.policy == .fc {
            throw ValidationError("--lr-backbone and --lr-slice set the rates of trainable layers outside the head: with --train fc none train. Give --train all or last.")
        }
        if training.syncBN && model.policy == .fc && model.frozenBN == .eval {
            throw ValidationError("--sync-bn has nothing to synchronise: with --train fc and --frozen-bn eval no batch norm uses batch statistics. Leave out --sync-bn, or give --frozen-bn train.")
        }
    }

    /// What finetune hangs on the trainer once the job is prepared (rank 0): `--conv auto`'s
    /// summary line (each shape's with `--verbose`), and `--tensorboard`'s event file
    /// (`FinetuneOutputOptions.observer`, whose folder is checked now).
    public func observer(log: @escaping (String) -> Void) throws -> (Trainer) throws -> Void {
        let board = try output.observer(log: log)
        let verbose = output.verbose
        return { trainer in
            ConvolutionSummary.attach(to: trainer, verbose: verbose, log: log)
            try board?(trainer)
        }
    }

    /// The run the options ask for, with `--recipe`'s preset applied to every option
    /// `arguments` (the command line) does not give.
    public func config(given arguments: [String]) -> TrainConfig {
        var c = config
        training.recipe?.apply(to: &c, unless: Recipe.optionNames(in: arguments))
        return c
    }

    /// The run the options ask for, defaults filled in as the command fills them (without
    /// `--recipe`'s preset: `config(given:)`).
    public var config: TrainConfig {
        var c = TrainConfig(data: data, classes: dataOptions.classes)
        model.apply(to: &c)
        dataOptions.apply(to: &c)
        training.apply(to: &c)
        output.apply(to: &c)
        return c
    }
}

/// Which network, from which weights, and what of it trains.
public struct FinetuneModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Pretrained weights: a .pth (zip, legacy or tar, e.g. torchvision's resnet34-333f7ec4.pth), torchvision's weights by NAME[:VERSION] (resnet34), or 'none' to train from scratch.",
                               discussion: WeightsSourceOptions.weightsDiscussion, valueName: "file|name|none"))
    public var weights: String

    @Option(help: "Architecture for --weights none: \(Families.variantNames.joined(separator: ", ")).")
    public var arch: String = "resnet34"

    @Option(name: .customLong("train"), help: "What trains: all (default, as train.py), last (the last --last-stages stages and the head), fc (the head only).")
    public var policy: TrainConfig.Policy = .all

    @Option(help: "With --train last: how many of the model's last stages train with the head (ResNet: 1 = layer4, up to 4; VGG: 1 = the classifier, up to 6).")
    public var lastStages: Int = 1

    @Option(help: ArgumentHelp("replace: fc becomes Linear(in, N). keep: the file's classifier is kept and trains on (continue a fine-tuned model on more data). append: the pretrained fc stays, frozen, and Linear(1000, N) follows it.",
                               discussion: "keep needs the classifier to have N classes and the class_indices.json beside --weights (the one finetune wrote with it) to name the data's classes in the same order; it is refused otherwise, with the difference named. An appended head (fc.0, fc.1) is kept as it is, fc.0 frozen. --output must then differ from --weights (the default name often is the same file: give --output).",
                               valueName: "replace|keep|append"))
    public var head: HeadMode = .replace

    @Option(help: "Batch norm in frozen layers: eval (running statistics, not updated) or train (what requires_grad=False alone gives).")
    public var frozenBN: TrainConfig.FrozenBN = .eval

    @Option(help: Precision.help("convolutions in bfloat16 (f32 accumulation, activations bf16 as under PyTorch's CPU autocast), f32 master weights and optimizer."))
    public var precision: Precision = .f32

    @Option(help: ArgumentHelp("How the 3x3 stride-1 convolutions compute in training: auto (default) times both algorithms on each conv shape the first time this machine sees it, keeps the faster, and remembers the times (~/.cache/graft/conv-choices.json); direct is PyTorch's arithmetic; winograd is Winograd F(4x4, 3x3) wherever it applies (f32 only: oneDNN's on AVX-512, Graft's own on AVX2).",
                               discussion: FinetuneModelOptions.convDiscussion, valueName: "auto|direct|winograd"))
    public var conv: ConvolutionChoice = .auto

    public init() {}

    static let convDiscussion = """
        Winograd computes a 3x3 convolution with fewer multiplications (a full resnet34 \
        training step about 1.4x as fast on AVX-512 with oneDNN's, 1.6x on AVX2 with Graft's \
        own), through transforms that round differently: activations and \
        gradients differ from a direct run in the last bits (gradients about twice as far from \
        exact ones as direct's), so a run's losses and weights drift slightly from a --conv \
        direct run's; measured validation accuracy stayed within the spread between seeds \
        (README, "Speed"). A run is still \
        deterministic: the same --seed and the same choices give the same run, bit for bit. \
        auto's choices come from timings (Winograd only where it is more than 10 % faster): the \
        times are kept in $XDG_CACHE_HOME/graft/conv-choices.json (default \
        ~/.cache/graft/conv-choices.json; GRAFT_CONV_CACHE=FILE moves it, GRAFT_CONV_CACHE=off \
        keeps none), keyed by CPU, oneDNN ISA, threads, shape and Graft's conv code version, so \
        every later run on this machine chooses as the first did; delete the file to measure \
        again. finetune prints each choice once, records them in metrics.json \
        (convolution_algorithms), and --resume reuses them. For runs that must match bit for bit \
        across machines, give direct or winograd. \
        With --precision bf16 every conv computes direct. With --train fc the frozen trunk runs \
        with batch norm folded in (as predict runs it), each shape as auto chose for it, or \
        unfolded with --conv winograd.
        """

    public func validate() throws {
        if !Families.variantNames.contains(arch) {
            throw ValidationError("--arch \(arch) is not a torchvision model Graft knows. Use one of: \(Families.variantNames.joined(separator: ", ")).")
        }
        if lastStages < 1 { throw ValidationError("--last-stages must be at least 1") }
        if precision == .int8 {
            throw ValidationError("--precision int8 is for inference (predict, batch_predict, evaluate, after graft calibrate); finetune trains in f32 or bf16.")
        }
        try precision.validateOnThisCPU()
        if conv == .winograd && precision == .bf16 {
            throw ValidationError("--conv winograd is f32-only: with --precision bf16 every conv computes direct. Give --conv auto or direct, or --precision f32.")
        }
    }

    func apply(to c: inout TrainConfig) {
        c.weights = weights == "none" ? nil : weights
        c.architecture = arch
        c.policy = policy; c.lastStages = lastStages; c.head = head; c.frozenBN = frozenBN
        c.precision = precision.rawValue
        c.conv = conv
    }
}

/// What the data is and how images become tensors.
public struct FinetuneDataOptions: ParsableArguments {
    @Option(help: "Number of classes: must equal the number of class folders.")
    public var classes: Int

    @Option(help: "Fraction of each class held out for validation when DATA has no val folder.")
    public var valSplit: Double = 0.1

    @Option(help: "Side of the square training crop (RandomResizedCrop's size; torchvision's reference trains its best ResNet-50 at 176 and validates at 232 / 224). Default: the val crop.")
    public var trainCrop: Int?

    @Option(help: "Validation's CenterCrop side, also the size predict, batch_predict and evaluate read from metrics.json. Default 224, or --image-size.")
    public var valCrop: Int?

    @Option(help: "Validation's Resize (shorter side before the center crop). Default: 256 for a 224 crop, scaled with the val crop (round(crop x 256 / 224)), or --resize.")
    public var valResize: Int?

    @Option(help: "The val crop, and the train crop when --train-crop is not given (what it was before --train-crop): --image-size N alone trains and validates at N as always. With --val-crop it must give the same value.")
    public var imageSize: Int?

    @Option(help: "The val resize (--val-resize's older name; --no-augment trains on it too). With --val-resize it must give the same value.")
    public var resize: Int?

    @Flag(help: "No random crop and flip: train on the validation transform (with --train fc, features are computed once).")
    public var noAugment = false

    @Option(help: ArgumentHelp("After crop and flip, one of torchvision's automatic augmentation policies on each training image (torchvision reference's --auto-augment): ta_wide (TrivialAugmentWide: one op of 14 at a random strength; 'trivial' works too), ra (RandAugment: --ra-num-ops ops at strength --ra-magnitude), imagenet (AutoAugment's ImageNet policy). Shears, translations and rotations use nearest neighbours and fill black (the policies' defaults; torchvision's reference script passes bilinear). Pixel-exact to torchvision's PIL path; the draws are Graft's own, seeded. none: no policy (to switch off a --recipe's).", valueName: "ta_wide|ra|imagenet|none"))
    public var autoAugment: String?

    @Option(help: "RandAugment's magnitude bin, 0 to 30 (default 9, torchvision's): how strong each op is. Only with --auto-augment ra.")
    public var raMagnitude: Int?

    @Option(help: "RandAugment's ops per image (default 2, torchvision's). Only with --auto-augment ra.")
    public var raNumOps: Int?

    @Option(help: ArgumentHelp("ColorJitter before the policy: brightness, contrast, saturation factors drawn in [max(0, 1-x), 1+x], hue shift in [-h, h] (h at most 0.5), applied in a random order; missing values are 0 (off), and 0 alone switches off a --recipe's. E.g. 0.4 or 0.4,0.4,0.4,0.1.", valueName: "B[,C,S,H]"))
    public var colorJitter: String?

    @Option(help: ArgumentHelp("RandomRotation after the flip: each training image turns by an angle uniform in [-DEG, DEG] (nearest, black corners). 0: none (to switch off a --recipe's).", valueName: "DEG"))
    public var rotation: Double?

    @Option(help: ArgumentHelp("RandomErasing on the normalised training tensor with probability P (torchvision reference's --random-erase; area 2-33%, aspect 0.3-3.3, erased to 0). 0: none (to switch off a --recipe's).", valueName: "P"))
    public var randomErase: Double?

    @Option(help: "Image decoding threads (default 2; under mpirun at most each process's share of the cores).")
    public var workers: Int?

    public init() {}

    public func validate() throws {
        if classes < 1 { throw ValidationError("--classes must be at least 1") }
        let (_, valCrop, _) = try crops()
        if valCrop < 8 { throw ValidationError("\(self.valCrop == nil ? "--image-size" : "--val-crop") must be at least 8") }
        if let t = trainCrop, t < 8 { throw ValidationError("--train-crop must be at least 8") }
        if let problem = try augmentation()?.problem { throw ValidationError(problem) }
        if let t = trainCrop, t != valCrop, noAugment {
            throw ValidationError("--train-crop \(t) differs from the val crop \(valCrop), but --no-augment trains on the validation transform (Resize + CenterCrop \(valCrop)), not on random crops: leave out --train-crop or --no-augment")
        }
    }

    /// The augmentations beyond crop and flip the options ask for; nil when none. Refused with
    /// --no-augment, and --ra-* without --auto-augment ra.
    func augmentation() throws -> Augmentation? {
        var a = Augmentation()
        if let s = autoAugment, s != "none" {
            let name = s == "trivial" ? "ta_wide" : s
            guard let p = Augmentation.Policy(rawValue: name) else {
                throw ValidationError("--auto-augment \(s): not a policy; use ta_wide (TrivialAugmentWide, or 'trivial'), ra (RandAugment), imagenet (AutoAugment) or none")
            }
            a.autoAugment = p
        }
        if raMagnitude != nil || raNumOps != nil {
            guard a.autoAugment == .ra else {
                throw ValidationError("--ra-magnitude and --ra-num-ops set RandAugment: give them with --auto-augment ra")
            }
            a.raMagnitude = raMagnitude ?? 9
            a.raNumOps = raNumOps ?? 2
        }
        if let s = colorJitter {
            let parts = s.split(separator: ",", omittingEmptySubsequences: false)
            let values = parts.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == parts.count else {
                throw ValidationError("--color-jitter \(s): give 1 to 4 numbers separated by commas, B[,C,S,H], e.g. 0.4 or 0.4,0.4,0.4,0.1")
            }
            if values.count > 4 || values.contains(where: { $0 != 0 }) { a.colorJitter = values }   // all 0: off (a preset's, too)
        }
        // 0 is off, as --mixup-alpha 0: how a --recipe's augmentation is switched off.
        a.rotation = rotation == 0 ? nil : rotation
        a.randomErase = randomErase == 0 ? nil : randomErase
        if a.isEmpty { return nil }
        if noAugment {
            throw ValidationError("--no-augment trains on the validation transform without random crops, so --auto-augment, --color-jitter, --rotation and --random-erase cannot apply: leave out one or the other")
        }
        return a
    }

    /// The train crop, val crop and val resize: `--val-crop` or else `--image-size` (else 224),
    /// `--val-resize` or else `--resize` (else round(val crop x 256 / 224)), `--train-crop` or
    /// else the val crop. An option and its older name given together must agree.
    func crops() throws -> (train: Int, valCrop: Int, valResize: Int) {
        if let a = imageSize, let b = valCrop, a != b {
            throw ValidationError("--image-size \(a) and --val-crop \(b) disagree: --image-size is --val-crop's older name (and the train crop's default). Give one of them; --train-crop sets the training crop on its own.")
        }
        if let a = resize, let b = valResize, a != b {
            throw ValidationError("--resize \(a) and --val-resize \(b) disagree: --resize is --val-resize's older name. Give one of them.")
        }
        let crop = valCrop ?? imageSize ?? 224
        return (trainCrop ?? crop, crop, valResize ?? resize ?? EvalTransform.defaultResize(crop: crop))
    }

    func apply(to c: inout TrainConfig) {
        c.classes = classes
        c.valSplit = valSplit
        if let k = try? crops() { (c.trainCrop, c.imageSize, c.resize) = (k.train, k.valCrop, k.valResize) }   // validate() threw otherwise
        c.augment = !noAugment
        c.augmentation = try? augmentation()     // validate() threw otherwise
        c.workers = workers ?? 2
    }
}

/// How long and how the network trains: epochs, batches, optimizer, schedule, loss, seed.
public struct TrainingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Start from a source's recipe: every option it sets that the command line does not give takes the recipe's value (explicit options override it). Default: none, which trains as tutorial does.",
                               discussion: Recipe.allCases.map(\.summary).joined(separator: "\n") + "\nThe recipe is recorded in metrics.json and report.html; README's \"Recipes\" has the study that compares them.",
                               valueName: "tutorial|fastai|torchvision"))
    public var recipe: Recipe?

    @Option(help: "Epochs.") public var epochs: Int = 3
    @Option(help: "Images per step and process: under mpirun -np N each process takes this many, so a step's global batch is N times it (as with PyTorch's DistributedDataParallel).")
    public var batchSize: Int = 16
    @Option(help: "Learning rate.") public var lr: Double = 1e-4
    @Option(help: "adam, adamw or sgd (momentum --momentum).") public var optimizer: OptimizerConfig.Kind = .adam
    @Option(help: "SGD momentum.") public var momentum: Double = 0.9
    @Flag(help: "Nesterov momentum (SGD).") public var nesterov = false
    @Option(help: "Weight decay (L2 for adam and sgd, decoupled for adamw).") public var weightDecay: Double = 0
    @Option(help: "Learning-rate schedule: none; per optimizer step: cosine (to 0 at the last step, after the warmup), onecycle (torch's OneCycleLR, max_lr --lr, momentum not cycled); per epoch: step (x0.1 every --step-size epochs), plateau (x0.1 when val loss has not improved for --plateau-patience epochs, ReduceLROnPlateau), cosine-epoch (CosineAnnealingLR stepped once per epoch, what --schedule cosine did before it became per step).")
    public var schedule: LRSchedule = .none
    @Option(help: "Epochs between steps of --schedule step (default: a third of the epochs).") public var stepSize: Int?
    @Option(help: "Linear warmup over this many epochs (fractional: round(X x steps per epoch) steps) from lr/100 to --lr, torch's LinearLR(start_factor=0.01); then --schedule (not with onecycle, which warms up itself). Default 0.")
    public var warmupEpochs: Double = 0
    @Option(help: "With --schedule plateau: epochs without a better val loss before the rate is cut x0.1 (torch's default is 10; finetune runs few epochs).")
    public var plateauPatience: Int = LRScheduler.defaultPlateauPatience
    @Option(help: "Stop when --monitor has not improved for this many epochs (Keras' EarlyStopping; the saved model stays the best val accuracy's, as without it). Default: every epoch trains.")
    public var patience: Int?
    @Option(help: "What --patience watches: val_accuracy (default; better when higher) or val_loss (better when lower).")
    public var monitor: Monitor = .valAccuracy
    @Option(help: ArgumentHelp("Train the head alone for the first N of --epochs (the trunk frozen, batch norm as --frozen-bn says), then what --train says for the rest: fastai's fine_tune (freeze_epochs). The schedule (--schedule, --warmup-epochs) starts again with each phase. Default 0: one phase.",
                               discussion: "The optimizer's state carries over (the head's Adam moments go on; the layers that join start fresh, as torch's do when requires_grad turns on). report.html marks where the second phase starts. With --no-augment the first phase computes the frozen trunk's features once, as --train fc does.",
                               valueName: "N"))
    public var headEpochs: Int?
    @Option(help: ArgumentHelp("The learning rate of every trainable layer outside the head (the head keeps --lr; each follows the schedule in proportion). Default: --lr for all.", valueName: "LR"))
    public var lrBackbone: Double?
    @Option(help: ArgumentHelp("Discriminative rates as fastai's slice(LOW, lr): the stem and first stage at LOW, the head at --lr, the stages between spaced geometrically (ResNet: layer1 LOW ... layer4, then fc at --lr; fastai's default is --lr / 100).", valueName: "LOW"))
    public var lrSlice: Double?

    @Option(help: "Label smoothing of the cross-entropy loss.") public var labelSmoothing: Double = 0
    @Option(help: ArgumentHelp("Class weights of the cross-entropy loss: none, or balanced (scikit-learn's compute_class_weight(\"balanced\") on the training split: n_images / (n_classes x the class's images)).", discussion: "As torch's CrossEntropyLoss(weight=w): a batch's loss is the weighted sum over its images divided by the sum of their targets' weights (label smoothing's term weighted per class and divided alike). The validation loss stays unweighted.", valueName: "none|balanced"))
    public var classWeights: ClassWeighting = .unweighted
    @Option(help: ArgumentHelp("Which training images an epoch takes: random (each once, shuffled) or balanced (as many draws with replacement, each image with probability proportional to 1 / its class's count: torch's WeightedRandomSampler(weights, len(train), replacement=True), from --seed).", discussion: "Under mpirun every process draws the same sequence and takes its share as DistributedSampler splits a shuffle.", valueName: "random|balanced"))
    public var sampler: SamplerKind = .random
    @Option(help: ArgumentHelp("Before each optimizer step, scale the trainable gradients down so their total L2 norm is at most MAX (torch.nn.utils.clip_grad_norm_: x MAX / (norm + 1e-6) when that is below 1; under mpirun, of the averaged gradients). Default: no clipping.", valueName: "MAX"))
    public var clipGradNorm: Double?
    @Option(help: ArgumentHelp("Sum the gradients of N consecutive batches (each batch's loss x 1/N, as torch's loop with loss / N) before one optimizer step: as a batch N times larger, at one batch's memory. The schedule counts optimizer steps, ceil(batches / N) an epoch; the epoch's last, incomplete group steps too. Under mpirun gradients are averaged once per step.", valueName: "N"))
    public var accumulate: Int = 1
    @Option(help: ArgumentHelp("MixUp on each training batch, as torchvision's reference recipe (transforms.v2.MixUp): lambda from Beta(A, A), every image mixed with the batch's previous one (the first with the last), the one-hot labels mixed with the same lambda; the loss is cross-entropy with those probability targets (with --label-smoothing and --class-weights as torch combines them: a batch's weighted sum divided by its image count). With --cutmix-alpha too, each batch takes one of the two at random. Default 0: off (torchvision's reference uses 0.2).", discussion: "Drawn from --seed per epoch, batch and process: --resume and mpirun draw as an unbroken run; under mpirun each process mixes its own batch (as DDP with the reference script). With --train fc --no-augment the trunk's features are then not cached: the mixed image's features are not the mix of the images' features, so every step runs the frozen trunk on the mixed images, as torch would.", valueName: "A"))
    public var mixupAlpha: Double = 0
    @Option(help: ArgumentHelp("CutMix on each training batch (transforms.v2.CutMix): lambda from Beta(A, A), a box of side sqrt(1 - lambda) x the image's around a random point (clamped to the image) pasted from the batch's previous image, the labels mixed by the box's true area. Default 0: off (torchvision's reference uses 1.0). See --mixup-alpha.", valueName: "A"))
    public var cutmixAlpha: Double = 0
    @Option(help: ArgumentHelp("Keep an exponential moving average of the weights, as timm's --model-ema (ModelEmaV2): after every optimizer step ema = D x ema + (1 - D) x weights, for every trained parameter and the running statistics of batch norms that move. Each epoch validates the average too, and the epoch's saved candidate is the better of the two by --monitor (the model on a tie); metrics.json and report.html give its figures and which was saved. Typical D: 0.999 to 0.9999 (timm's default 0.9998); with few steps per run, lower. Default: none; 0 is none too (to switch off a --recipe's).", discussion: "Costs one more copy of the trained parameters (not of activations) and a second validation pass per epoch. --resume restores the average exactly; under mpirun every process holds rank 0's.", valueName: "D"))
    public var emaDecay: Double?
    @Option(help: "Random seed: the same seed on the same machine gives the same run (with --conv auto, once this machine's conv choices are cached; see --conv).") public var seed: UInt64 = 0
    @Flag(name: .customLong("sync-bn"), help: "Under mpirun: batch norms that use batch statistics compute them over every process's batch together, as torch.nn.SyncBatchNorm (default: each process its own, as DDP). Without mpirun, or with one process, there is nothing to synchronise and it changes nothing.")
    public var syncBN = false

    public init() {}

    public func validate() throws {
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if !(lr > 0) { throw ValidationError("--lr must be positive") }
        if !(0..<1).contains(labelSmoothing) { throw ValidationError("--label-smoothing must be in [0, 1)") }
        if !(warmupEpochs >= 0 && warmupEpochs <= Double(epochs)) {
            throw ValidationError("--warmup-epochs must be from 0 to --epochs (\(epochs)); \(warmupEpochs) is not")
        }
        if warmupEpochs > 0 && schedule == .onecycle {
            throw ValidationError("--warmup-epochs does not combine with --schedule onecycle, whose first 30 % of steps are its own warmup: leave out --warmup-epochs")
        }
        if plateauPatience < 0 { throw ValidationError("--plateau-patience must be 0 or more") }
        if accumulate < 1 { throw ValidationError("--accumulate must be at least 1 (1: a step every batch)") }
        if let m = clipGradNorm, !(m > 0 && m.isFinite) { throw ValidationError("--clip-grad-norm must be a positive number, not \(m) (leave it out not to clip)") }
        if let p = patience, p < 1 { throw ValidationError("--patience must be at least 1 (leave it out to train every epoch)") }
        if !(mixupAlpha >= 0 && mixupAlpha.isFinite) { throw ValidationError("--mixup-alpha must be 0 (off) or a positive number, not \(mixupAlpha)") }
        if !(cutmixAlpha >= 0 && cutmixAlpha.isFinite) { throw ValidationError("--cutmix-alpha must be 0 (off) or a positive number, not \(cutmixAlpha)") }
        if let d = emaDecay, !(d >= 0 && d < 1) { throw ValidationError("--ema-decay must be from 0 (no average) to below 1 (e.g. 0.999), not \(d)") }
        if let n = headEpochs, n < 0 { throw ValidationError("--head-epochs must be 0 or more") }
        if lrBackbone != nil && lrSlice != nil {
            throw ValidationError("--lr-backbone (one rate for the whole trunk) and --lr-slice (a rate per stage) both set the trunk's rates: give one")
        }
        for (name, v) in [("--lr-backbone", lrBackbone), ("--lr-slice", lrSlice)] {
            if let v, !(v > 0 && v.isFinite) { throw ValidationError("\(name) must be a positive rate, not \(v)") }
        }
    }

    func apply(to c: inout TrainConfig) {
        c.epochs = epochs; c.batchSize = batchSize
        c.optimizer = OptimizerConfig(kind: optimizer, lr: lr, weightDecay: weightDecay, momentum: momentum, nesterov: nesterov)
        c.schedule = schedule; c.stepSize = stepSize ?? max(1, epochs / 3); c.labelSmoothing = labelSmoothing
        c.warmupEpochs = warmupEpochs; c.plateauPatience = plateauPatience
        c.patience = patience; c.monitor = monitor
        c.classWeights = classWeights; c.sampler = sampler
        c.clipGradNorm = clipGradNorm; c.accumulate = accumulate
        c.mixupAlpha = mixupAlpha > 0 ? mixupAlpha : nil; c.cutmixAlpha = cutmixAlpha > 0 ? cutmixAlpha : nil
        c.emaDecay = emaDecay == 0 ? nil : emaDecay   // 0: no average (an average with decay 0 is the model itself)
        c.headEpochs = headEpochs ?? 0; c.lrBackbone = lrBackbone; c.lrSlice = lrSlice
        c.seed = seed
    }
}

/// The files a run writes, and `--resume`.
public struct FinetuneOutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The model file (default: resNet34.pth for resnet34...).", valueName: "file"))
    public var output: String?

    @Option(help: "Floating-point dtype of the saved model: float32, or float16/bfloat16 for a file half the size.")
    public var saveDtype: String = "float32"

    @Option(help: ArgumentHelp("Where class names go.", valueName: "file"))
    public var classIndices: String = "class_indices.json"

    @Option(help: ArgumentHelp("Where per-epoch figures go.", valueName: "file"))
    public var metrics: String = "metrics.json"

    @Flag(help: "Continue the interrupted run that wrote --output here, from its last finished epoch.")
    public var resume = false

    @Option(help: ArgumentHelp("Also write TensorBoard's event file (events.out.tfevents.*) in this folder, made if missing: train/loss per step, val/loss, val/accuracy and lr per epoch (with --ema-decay also ema/val_loss and ema/val_accuracy). View with: tensorboard --logdir DIR.",
                               valueName: "dir"))
    public var tensorboard: String?

    @Option(help: ArgumentHelp("Where the run's report goes (default: report.html beside --metrics): one self-contained HTML page, rewritten after every epoch, with the run's settings, curves, the best model's confusion matrix, per-class precision/recall/F1, its most confident mistakes and the data warnings.",
                               valueName: "file"))
    public var report: String?

    @Flag(help: "Write no report.html.")
    public var noReport = false

    @Flag(help: "Also print the details: each conv shape --conv auto decides, with its times (by default one summary line; metrics.json records them either way).")
    public var verbose = false

    public init() {}

    /// What `--report` and `--no-report` ask for: the report's writer, or nil for none.
    public func reportWriter(metrics: String) -> ReportWriter? {
        noReport ? nil : ReportWriter(path: report ?? ReportWriter.defaultPath(metrics: metrics))
    }

    public func validate() throws {
        if noReport && report != nil { throw ValidationError("--report and --no-report contradict each other: give one") }
        if !["float32", "float16", "bfloat16"].contains(saveDtype) { throw ValidationError("--save-dtype must be float32, float16 or bfloat16") }
    }

    func apply(to c: inout TrainConfig) {
        c.classIndices = classIndices; c.metrics = metrics; c.saveDType = saveDtype
    }

    /// What `--tensorboard` asks of the trainer, or nil without it: checks the folder now (so
    /// that a bad one fails before training), and, once the job is prepared, makes the event
    /// file and hangs it on the trainer.
    public func observer(log: @escaping (String) -> Void) throws -> ((Trainer) throws -> Void)? {
        guard let dir = tensorboard else { return nil }
        try TensorBoardLog.check(dir)
        return { trainer in
            let board = try TensorBoardLog(directory: dir)
            board.attach(to: trainer)
            log("TensorBoard: writing \(board.writer.path) (view with: tensorboard --logdir \(dir))")
        }
    }
}
