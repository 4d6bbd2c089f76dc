import Models

/// An option whose value in the command differs from the value the saved run was started
/// with: what `--resume` names when it refuses to continue.
public struct OptionDifference: Equatable, Sendable, CustomStringConvertible {
    /// As the user types it: `--lr`, `--no-augment`, `DATA`.
    public var option: String
    public var saved: String
    public var given: String

    public init(option: String, saved: String, given: String) {
        self.option = option; self.saved = saved; self.given = given
    }

    public var description: String { "\(option): the run was started with \(saved), this command gives \(given)" }
}

extension TrainConfig {
    /// Every option whose value differs from `saved`'s, in `finetune --help`'s order, valued as
    /// the command line gives them. `--workers` is left out (decoding threads change nothing in
    /// the run); a difference in something no option sets is named by its field.
    public func differences(from saved: TrainConfig) -> [OptionDifference] {
        var found = TrainConfig.options.compactMap { option, value -> OptionDifference? in
            let (was, now) = (value(saved), value(self))
            return was == now ? nil : OptionDifference(option: option, saved: was, given: now)
        }
        // A field no option above shows (none today): named by the field.
        if found.isEmpty && self != saved {
            var a = saved, b = self
            a.workers = 0; b.workers = 0
            if a != b { found.append(OptionDifference(option: "the run's settings", saved: "\(a)", given: "\(b)")) }
        }
        return found
    }

    /// Each option and its value in a config, as the command line writes it.
    static let options: [(String, @Sendable (TrainConfig) -> String)] = [
        ("DATA", { $0.data }),
        ("--weights", { $0.weights ?? "none" }),
        ("--arch", { $0.architecture }),
        ("--train", { $0.policy.rawValue }),
        ("--last-stages", { "\($0.lastStages)" }),
        ("--head", { $0.head.rawValue }),
        ("--frozen-bn", { $0.frozenBN.rawValue }),
        ("--precision", { $0.precision }),
        ("--conv", { $0.conv?.rawValue ?? "none recorded (the run predates --conv and computed direct)" }),
        ("--classes", { "\($0.classes)" }),
        ("--val-split", { "\($0.valSplit)" }),
        ("--train-crop", { "\($0.trainingCrop)" }),
        ("--val-crop", { "\($0.imageSize)" }),               // or --image-size
        ("--val-resize", { "\($0.resize)" }),                // or --resize
        ("--no-augment", { $0.augment ? "augmentation (no --no-augment)" : "--no-augment" }),
        ("--auto-augment", { $0.augmentation?.autoAugment?.rawValue ?? "none" }),
        ("--ra-magnitude", { "\($0.augmentation?.raMagnitude ?? 9)" }),
        ("--ra-num-ops", { "\($0.augmentation?.raNumOps ?? 2)" }),
        ("--color-jitter", { $0.augmentation?.colorJitter.map { $0.map { "\($0)" }.joined(separator: ",") } ?? "none" }),
        ("--rotation", { $0.augmentation?.rotation.map { "\($0)" } ?? "none" }),
        ("--random-erase", { $0.augmentation?.randomErase.map { "\($0)" } ?? "none" }),
        ("--epochs", { "\($0.epochs)" }),
        ("--batch-size", { "\($0.batchSize)" }),
        ("--lr", { "\($0.optimizer.lr)" }),
        ("--optimizer", { $0.optimizer.kind.rawValue }),
        ("--momentum", { "\($0.optimizer.momentum)" }),
        ("--nesterov", { $0.optimizer.nesterov ? "--nesterov" : "no --nesterov" }),
        ("--weight-decay", { "\($0.optimizer.weightDecay)" }),
        ("--schedule", { $0.schedule.rawValue }),
        ("--step-size", { "\($0.stepSize)" }),
        ("--warmup-epochs", { $0.warmupEpochs.map { "\($0)" } ?? "none recorded (the run predates --warmup-epochs: no warmup)" }),
        ("--plateau-patience", { $0.plateauPatience.map { "\($0)" } ?? "none recorded (the run predates --plateau-patience)" }),
        ("--patience", { $0.patience.map { "\($0)" } ?? "none (no early stopping)" }),
        ("--monitor", { ($0.monitor ?? .valAccuracy).rawValue }),
        ("--label-smoothing", { "\($0.labelSmoothing)" }),
        ("--class-weights", { ($0.classWeights ?? .unweighted).rawValue }),
        ("--sampler", { ($0.sampler ?? .random).rawValue }),
        ("--clip-grad-norm", { $0.clipGradNorm.map { "\($0)" } ?? "none (no clipping)" }),
        ("--accumulate", { "\($0.accumulate ?? 1)" }),
        ("--recipe", { $0.recipe?.rawValue ?? "none" }),
        ("--head-epochs", { "\($0.headEpochs ?? 0)" }),
        ("--lr-backbone", { $0.lrBackbone.map { "\($0)" } ?? "none (the trunk at --lr)" }),
        ("--lr-slice", { $0.lrSlice.map { "\($0)" } ?? "none" }),
        ("--mixup-alpha", { $0.mixupAlpha.map { "\($0)" } ?? "none (no mixup)" }),
        ("--cutmix-alpha", { $0.cutmixAlpha.map { "\($0)" } ?? "none (no cutmix)" }),
        ("--ema-decay", { $0.emaDecay.map { "\($0)" } ?? "none (no weight EMA)" }),
        ("--seed", { "\($0.seed)" }),
        ("--output", { $0.output }),
        ("--save-dtype", { $0.saveDType }),
        ("--class-indices", { $0.classIndices }),
        ("--metrics", { $0.metrics }),
        ("Adam's eps", { "\($0.optimizer.eps)" }),
    ]
}
