import Checkpoint
import ResNet

extension TrainableResNet: TrainableModel {}

extension Finetune {
    /// `--train all|last` (and fc with `--frozen-bn train`): backward through the trunk.
    static func makeTrainableResNet(_ config: TrainConfig, weights: StateDict?) throws -> TrainableModel {
        if config.precision != "f32" {
            throw Failure.unsupported("--precision \(config.precision) trains only with --train fc (bf16 backward passes are not built yet)")
        }
        let head: HeadPolicy = config.head == .append ? .append(numClasses: config.classes) : .replace(numClasses: config.classes)
        let model = try TrainableResNet(stateDict: weights, architecture: weights == nil ? config.architecture : nil,
                                        head: head, seed: config.seed)
        model.frozenBN = config.frozenBN == .eval ? .eval : .train
        model.setTrainable(config.trains)
        return model
    }
}
