import Foundation

/// `--recipe`: a preset of finetune's options as a source trains, applied to every option the
/// command line does not give (explicit options override it). What each sets:
/// - tutorial: the tutorial's train.py, Graft's defaults: Adam at 1e-4, no schedule, random
///   resized crop and flip, one phase.
/// - fastai: `vision_learner(...).fine_tune(epochs)` as near as Graft's options go: the head alone
///   for one epoch, then everything, one-cycle per phase, AdamW with weight decay 0.01 at 2e-3,
///   discriminative rates slice(lr / 100, lr), and `aug_transforms`' rotation (10 degrees) and
///   lighting (brightness and contrast 0.2). Not fastai's: its head (two linear layers with batch
///   norm and dropout over concatenated pooling), its cycled momentum, its halved second-phase rate,
///   and its zoom and warp.
/// - torchvision: the reference recipe of torchvision's ResNet-50 V2 weights, scaled to a
///   fine-tune: SGD with momentum 0.9 at 0.5 x batch / 1024, weight decay 2e-5, per-step cosine
///   after a linear warmup (a tenth of the epochs: the recipe warms up 5 of 600), label smoothing
///   0.1, mixup 0.2 and cutmix 1.0, TrivialAugmentWide, random erasing 0.1, weight EMA, and
///   training at 176 / 224 of the val crop with the val resize at 232 / 224 of it. Not
///   torchvision's: the EMA's decay (0.998 a step here; the recipe's 0.99998 every 32 steps, scaled
///   to ImageNet's 600 epochs, would average over far more steps than a fine-tune takes) and
///   weight decay on batch norm (the recipe exempts it).
public enum Recipe: String, CaseIterable, Codable, Sendable {
    case tutorial, fastai, torchvision

    /// The options a preset sets, as the command line names them (aliases included), for
    /// `--help` and to tell which the user gave.
    static let aliases: [String: String] = ["--image-size": "--val-crop", "--resize": "--val-resize"]

    /// The option names among `arguments` (`--lr 0.1`, `--lr=0.1`), aliases under their main
    /// name, up to a `--` that ends the options.
    public static func optionNames(in arguments: [String]) -> Set<String> {
        var names: Set<String> = []
        for a in arguments {
            if a == "--" { break }
            guard a.hasPrefix("--") else { continue }
            let name = String(a.split(separator: "=", maxSplits: 1).first ?? Substring(a))
            names.insert(aliases[name] ?? name)
        }
        return names
    }

    /// What `--help` says the preset sets.
    public var summary: String {
        switch self {
        case .tutorial: return "tutorial: the tutorial's train.py (Graft's defaults): --optimizer adam --lr 1e-4 --schedule none, crop and flip"
        case .fastai: return "fastai: fine_tune: --head-epochs 1 --schedule onecycle --optimizer adamw --weight-decay 0.01 --lr 2e-3 --lr-slice lr/100 --rotation 10 --color-jitter 0.2,0.2"
        case .torchvision: return "torchvision: the ResNet-50 V2 reference recipe: --optimizer sgd --momentum 0.9 --lr 0.5xbatch/1024 --weight-decay 2e-5 --schedule cosine --warmup-epochs epochs/10 --label-smoothing 0.1 --mixup-alpha 0.2 --cutmix-alpha 1.0 --auto-augment ta_wide --random-erase 0.1 --ema-decay 0.998 --train-crop 176/224 and --val-resize 232/224 of the val crop"
        }
    }

    /// Sets every option of the preset that `given` (option names, `optionNames(in:)`) lacks.
    public func apply(to c: inout TrainConfig, unless given: Set<String>) {
        c.recipe = self
        func set(_ option: String, _ body: (inout TrainConfig) -> Void) { if !given.contains(option) { body(&c) } }
        let trunkTrains = c.policy != .fc
        switch self {
        case .tutorial:
            set("--optimizer") { $0.optimizer.kind = .adam }
            set("--lr") { $0.optimizer.lr = 1e-4 }
            set("--schedule") { $0.schedule = .none }
        case .fastai:
            set("--optimizer") { $0.optimizer.kind = .adamw }
            set("--weight-decay") { $0.optimizer.weightDecay = 0.01 }
            set("--lr") { $0.optimizer.lr = 2e-3 }
            // One-cycle warms up itself: an explicit --warmup-epochs keeps the cosine instead.
            set("--schedule") { $0.schedule = given.contains("--warmup-epochs") ? .cosine : .onecycle }
            if trunkTrains && !given.contains("--lr-backbone") {
                set("--head-epochs") { $0.headEpochs = $0.epochs > 1 ? 1 : 0 }
                set("--lr-slice") { $0.lrSlice = $0.optimizer.lr / 100 }
            }
            if c.augment {
                var a = c.augmentation ?? Augmentation()
                if !given.contains("--rotation") { a.rotation = 10 }
                if !given.contains("--color-jitter") { a.colorJitter = [0.2, 0.2] }
                c.augmentation = a.isEmpty ? nil : a   // every part switched off: none, as without the preset
            }
        case .torchvision:
            set("--optimizer") { $0.optimizer.kind = .sgd }
            set("--momentum") { $0.optimizer.momentum = 0.9 }
            set("--lr") { $0.optimizer.lr = 0.5 * Double($0.batchSize) / 1024 }
            set("--weight-decay") { $0.optimizer.weightDecay = 2e-5 }
            set("--schedule") { $0.schedule = .cosine }
            set("--warmup-epochs") { $0.warmupEpochs = Double($0.epochs) / 10 }
            set("--label-smoothing") { $0.labelSmoothing = 0.1 }
            set("--mixup-alpha") { $0.mixupAlpha = 0.2 }
            set("--cutmix-alpha") { $0.cutmixAlpha = 1.0 }
            set("--ema-decay") { $0.emaDecay = 0.998 }
            if c.augment {
                var a = c.augmentation ?? Augmentation()
                if !given.contains("--auto-augment") { a.autoAugment = .taWide }
                if !given.contains("--random-erase") { a.randomErase = 0.1 }
                c.augmentation = a.isEmpty ? nil : a   // every part switched off: none, as without the preset
                let crop = Double(c.imageSize)
                set("--train-crop") { $0.trainCrop = max(1, Int((crop * 176 / 224).rounded())) }
                set("--val-resize") { $0.resize = Int((crop * 232 / 224).rounded()) }
            }
        }
    }
}
