import Checkpoint
import ResNet

extension TrainableResNet: TrainableModel {}

extension Finetune {
    /// `--train all|last` (and fc with `--frozen-bn train`): backward through the trunk.
    static func makeTrainableResNet(_ config: TrainConfig, weights: StateDict?) throws -> TrainableModel {
        let head: HeadPolicy = config.head == .append ? .append(numClasses: config.classes) : .replace(numClasses: config.classes)
        let model = try TrainableResNet(stateDict: weights, architecture: weights == nil ? config.architecture : nil,
                                        head: head, seed: config.seed, precision: Precision(rawValue: config.precision) ?? .f32)
        model.frozenBN = config.frozenBN == .eval ? .eval : .train
        model.setTrainable(config.trains)
        return model
    }
}
