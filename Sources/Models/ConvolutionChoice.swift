/// What `--conv` asks of the 3x3 stride-1 convolutions (finetune, predict, batch_predict, evaluate).
public enum ConvolutionChoice: String, CaseIterable, Codable, Sendable {
    /// Measured per shape (as `torch.backends.cudnn.benchmark` does): see `ConvolutionTuner`.
    case auto
    /// PyTorch's arithmetic everywhere.
    case direct
    /// Winograd F(4x4, 3x3) for every f32 3x3 stride-1 ungrouped conv (oneDNN's on AVX-512,
    /// Graft's own on AVX2).
    case winograd
}
