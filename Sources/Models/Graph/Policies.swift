/// What becomes of the classifier `fc` when a trainable ResNet is built.
public enum HeadPolicy: Equatable, Sendable {
    /// A new `Linear(in_features, numClasses)` replaces `fc` (keys `fc.weight`, `fc.bias`),
    /// initialised as `nn.Linear` is: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    case replace(numClasses: Int)
    /// The pretrained `fc` stays, frozen, as `fc.0`, followed by a new `Linear(fc_out, numClasses)`
    /// as `fc.1`: what `net.fc = nn.Sequential(net.fc, nn.Linear(1000, N))` gives.
    case append(numClasses: Int)
    /// `fc` as the state dict has it.
    case keep
}

/// How batch norms whose weight is frozen behave in a training step.
public enum FrozenBN: Sendable {
    /// Running statistics, not updated (a frozen trunk in eval mode).
    case eval
    /// PyTorch's plain `requires_grad=False`: batch statistics, running statistics updated.
    case train
}

/// Which parameters train: walked once over the module tree by `Network.freeze`, which
/// marks every module (as mlx-swift's `freeze(keys:)` does). A pretrained `fc.0` kept under an
/// appended head is frozen whatever the policy.
public enum FreezePolicy: Equatable, Sendable {
    /// Everything trains.
    case none
    /// The last `n` stages (`layer4` for 1... all four for 4) and the head train.
    case lastStages(Int)
    /// Only the head trains; the trunk is frozen.
    case headOnly
    /// Exactly the parameters with these state-dict keys train (PyTorch's `requires_grad`).
    case trainOnly(Set<String>)
}
