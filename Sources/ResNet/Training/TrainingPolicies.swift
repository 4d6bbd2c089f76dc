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
