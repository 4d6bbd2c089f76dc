import Engine

/// The arithmetic a model runs in. `bf16`: weights and activations in bfloat16, accumulation
/// in float32, logits in float32 (what PyTorch's CPU autocast to bfloat16 does for convs and
/// linear layers).
public enum Precision: String, CaseIterable, Sendable {
    case f32, bf16

    var dataType: DataType { self == .f32 ? .f32 : .bf16 }
}

extension Precision {
    /// Throws `EngineError.bf16Unavailable` for `.bf16` on a CPU that has no bf16 kernels
    /// (checked once per process, `CPUCapabilities.current`).
    public func requireSupport() throws {
        if self == .bf16 { try CPUCapabilities.current.requireBF16() }
    }
}
