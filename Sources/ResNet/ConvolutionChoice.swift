/// What `finetune --conv` asks of the 3x3 stride-1 convolutions in training.
public enum ConvolutionChoice: String, CaseIterable, Codable, Sendable {
    /// Measured per shape (as `torch.backends.cudnn.benchmark` does): see `ConvolutionTuner`.
    case auto
    /// PyTorch's arithmetic everywhere.
    case direct
    /// Winograd wherever oneDNN has it (f32 3x3 stride 1, ungrouped).
    case winograd
}
