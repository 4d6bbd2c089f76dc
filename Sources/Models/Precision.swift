import Engine

/// The arithmetic a model runs in. `bf16`: weights and activations in bfloat16, accumulation
/// in float32, logits in float32 (what PyTorch's CPU autocast to bfloat16 does for convs and
/// linear layers). `int8` (inference only): convs and linears in int8 from a calibration
/// (`Int8Pass`), the rest in f32.
public enum Precision: String, CaseIterable, Sendable {
    case f32, bf16, int8

    /// The float type of the ops that are not int8.
    var dataType: DataType { self == .bf16 ? .bf16 : .f32 }
}

extension Precision {
    /// Throws `EngineError.bf16Unavailable` for `.bf16` on a CPU that has no bf16 kernels
    /// (checked once per process, `CPUCapabilities.current`).
    public func requireSupport() throws {
        if self == .bf16 { try CPUCapabilities.current.requireBF16() }
        if self == .int8, !CPUCapabilities.current.int8Fast { throw QuantizationError.int8Unavailable(isa: CPUCapabilities.current.isa) }
    }
}
