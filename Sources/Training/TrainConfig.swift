import Models

/// Everything a fine-tuning run was asked to do; saved in metrics.json and checked on --resume.
public struct TrainConfig: Codable, Equatable, Sendable {
    /// Which parameters train (`--train`).
    public enum Policy: String, CaseIterable, Codable, Sendable { case all, last, fc }
    /// Batch norm in frozen layers (`--frozen-bn`).
    public enum FrozenBN: String, CaseIterable, Codable, Sendable { case eval, train }

    public var data: String
    public var weights: String?            // nil: --weights none, trained from scratch
    public var architecture: String = "resnet34"
    public var classes: Int
    public var policy: Policy = .all
    public var lastStages: Int = 1
    public var head: HeadMode = .replace
    /// `--head-epochs N`: the first N of `epochs` train the head alone (the trunk frozen), the
    /// rest train what `policy` says; nil in files of runs made before it existed (0: one phase).
    public var headEpochs: Int? = 0
    /// `--lr-backbone`: the rate of every trainable parameter outside the head, relative to the
    /// schedule as `--lr` is (nil: `--lr`, as before it existed).
    public var lrBackbone: Double? = nil
    /// `--lr-slice LOW`: fastai's `slice(LOW, lr)`: the earliest stage (with the stem) at LOW,
    /// the head at `--lr`, the stages between spaced geometrically (nil: none).
    public var lrSlice: Double? = nil
    /// `--recipe`: the preset the run's other settings started from (nil: none given).
    public var recipe: Recipe? = nil
    public var frozenBN: FrozenBN = .eval
    public var epochs: Int = 3
    public var batchSize: Int = 16
    public var optimizer = OptimizerConfig()
    public var schedule: LRSchedule = .none
    public var stepSize: Int = 1
    /// `--warmup-epochs` (fractional: round(X x steps per epoch) steps); nil in files of runs
    /// made before it existed (none).
    public var warmupEpochs: Double? = 0
    /// `--plateau-patience` of `--schedule plateau`; nil in older files (the default).
    public var plateauPatience: Int? = LRScheduler.defaultPlateauPatience
    /// `--patience`: stop when `--monitor` has not improved for this many epochs (nil: never).
    public var patience: Int? = nil
    /// `--monitor`; nil in files of runs made before it existed (val_accuracy).
    public var monitor: Monitor? = .valAccuracy
    public var labelSmoothing: Double = 0
    /// `--class-weights`; nil in files of runs made before it existed (none).
    public var classWeights: ClassWeighting? = ClassWeighting.unweighted
    /// `--sampler`; nil in files of runs made before it existed (random).
    public var sampler: SamplerKind? = SamplerKind.random
    /// `--clip-grad-norm`: the most the trainable gradients' total L2 norm may be before each
    /// optimizer step (nil: no clipping; also in files of runs made before it existed).
    public var clipGradNorm: Double? = nil
    /// `--accumulate`: batches whose gradients are summed (each x 1/N) before one optimizer
    /// step; nil in files of runs made before it existed (1).
    public var accumulate: Int? = 1
    /// `--mixup-alpha` and `--cutmix-alpha`: Beta's alpha of torchvision's MixUp and CutMix
    /// per batch (nil, also in files of runs made before they existed: off).
    public var mixupAlpha: Double? = nil
    public var cutmixAlpha: Double? = nil
    /// `--ema-decay`: timm's weight EMA after every optimizer step, validated each epoch and
    /// saved when better (nil, also in files of runs made before it existed: none).
    public var emaDecay: Double? = nil
    /// Validation's CenterCrop (`--val-crop`, alias `--image-size`): the eval size predict reads
    /// from metrics.json's `image_size`.
    public var imageSize: Int = 224
    /// Validation's Resize (`--val-resize`, alias `--resize`): metrics.json's `resize`.
    public var resize: Int = 256
    /// `--train-crop`: RandomResizedCrop's output side; nil (in files of runs made before it
    /// existed, and by default) is `imageSize`, the val crop. Read it through `trainingCrop`.
    public var trainCrop: Int? = nil
    public var augment = true
    /// `--rotation`, `--color-jitter`, `--auto-augment` (`--ra-*`), `--random-erase`: the
    /// augmentations after crop and flip; nil (by default, and in files of runs made before
    /// they existed) is none.
    public var augmentation: Augmentation? = nil
    public var seed: UInt64 = 0
    public var workers: Int = 2
    public var precision: String = "f32"
    /// How 3x3 stride-1 convs compute (`--conv`); nil in files of runs made before it existed
    /// (they ran direct).
    public var conv: ConvolutionChoice? = .auto
    public var valSplit: Double = 0.1
    public var output: String = "resNet34.pth"
    /// dtype of the saved model's floating-point tensors: float32, or float16/bfloat16 for half-size files.
    public var saveDType: String = "float32"
    public var classIndices: String = "class_indices.json"
    public var metrics: String = "metrics.json"

    public init(data: String, classes: Int) {
        self.data = data
        self.classes = classes
    }

    /// The side of the training batches' images: `--train-crop`, else the val crop.
    public var trainingCrop: Int { trainCrop ?? imageSize }

    /// The epochs (from 0) at which a phase begins: [0], or [0, N] with `--head-epochs N`.
    public var phaseStarts: [Int] {
        let n = headEpochs ?? 0
        return n > 0 && n < epochs ? [0, n] : [0]
    }

    /// Whether epoch `epoch` (from 0) is in the head-only phase of `--head-epochs`.
    public func isHeadPhase(_ epoch: Int) -> Bool { epoch < (headEpochs ?? 0) }

    /// What trains in epoch `epoch` (from 0): the head alone in `--head-epochs`' phase, else
    /// what `--train` says.
    public func freezePolicy(epoch: Int) -> FreezePolicy { isHeadPhase(epoch) ? .headOnly : freezePolicy }

    /// What `--train` asks to freeze: walked over the model's module tree by `Network.freeze`.
    public var freezePolicy: FreezePolicy {
        switch policy {
        case .all: return .none
        case .last: return .lastStages(lastStages)
        case .fc: return .headOnly
        }
    }
}

/// How the new classifier relates to the pretrained one (`--head`).
public enum HeadMode: String, CaseIterable, Sendable, Codable {
    /// `fc` becomes a new Linear(in_features, N), saved as `fc.weight`/`fc.bias`.
    case replace
    /// The file's classifier (`fc`, or `fc.0`/`fc.1` of an appended one) is kept and trains on:
    /// continuing a fine-tuned model on more data. Its class count and the class_indices.json
    /// beside the weights must match the data's classes.
    case keep
    /// The pretrained fc stays, frozen, and a new Linear(fc_out, N) follows it: saved as
    /// `fc.0.*` and `fc.1.*`, what `net.fc = nn.Sequential(net.fc, nn.Linear(1000, N))` gives.
    case append
}
