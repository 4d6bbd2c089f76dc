import Checkpoint

extension Finetune {
    /// `--train all|last` (and fc with `--frozen-bn train`): backward through the trunk.
    static func makeTrainableResNet(_ config: TrainConfig, weights: StateDict?) throws -> TrainableModel {
        throw Failure.unsupported("--train \(config.policy.rawValue)\(config.policy == .fc ? " --frozen-bn train" : "") needs the trunk's backward passes, which are not built yet; use --train fc (with the default --frozen-bn eval)")
    }
}
