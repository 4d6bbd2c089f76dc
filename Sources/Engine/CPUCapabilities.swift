import CDNNL

/// What this CPU can run, as oneDNN sees it: the instruction set its kernels use and whether
/// bfloat16 convolutions exist here. Checked once per process (`CPUCapabilities.current`);
/// oneDNN itself reads `ONEDNN_MAX_CPU_ISA` once, on first use, and the check honours it.
public struct CPUCapabilities: Sendable, Equatable {
    /// How bfloat16 runs on this CPU.
    public enum BF16: String, Sendable, Equatable {
        /// AVX512_BF16 or AMX instructions: bf16 dot products in hardware.
        case native
        /// AVX-512 without BF16: oneDNN converts bf16 in software, slower than f32.
        case emulated
        /// No bf16 kernels at all (oneDNN 2.6 has none below AVX-512, e.g. on AVX2 CPUs).
        case unavailable
    }

    /// oneDNN's name for the instruction set its kernels use, without the `cpu_isa_` prefix:
    /// `avx2`, `avx512_core`, `avx512_core_bf16`, `avx512_core_amx`...
    public let isa: String
    public let bf16: BF16

    /// This process's CPU, checked once: the effective ISA, and whether a tiny bf16
    /// convolution (forward and backward-weights) can be created.
    public static let current: CPUCapabilities = detect()

    public init(isa: String, bf16: BF16) {
        self.isa = isa
        self.bf16 = bf16
    }

    /// Throws `EngineError.bf16Unavailable` unless bf16 convolutions run on this CPU.
    public func requireBF16() throws {
        if bf16 == .unavailable { throw EngineError.bf16Unavailable(isa: isa) }
    }

    static func detect() -> CPUCapabilities {
        let raw = dnnl_get_effective_cpu_isa()
        var name = String(cString: dnnl_cpu_isa2str(raw))
        if name.hasPrefix("cpu_isa_") { name.removeFirst("cpu_isa_".count) }
        guard bf16ConvolutionExists() else { return CPUCapabilities(isa: name, bf16: .unavailable) }
        // ISA values are bit sets: every bit of avx512_core_bf16 is set in it and in AMX.
        let nativeBits = dnnl_cpu_isa_avx512_core_bf16.rawValue
        let native = raw.rawValue & nativeBits == nativeBits
        return CPUCapabilities(isa: name, bf16: native ? .native : .emulated)
    }

    /// Creates (and frees) the primitive descriptors of a 16-channel 3x3 bf16 convolution,
    /// forward and backward-weights, on a throwaway engine.
    private static func bf16ConvolutionExists() -> Bool {
        var e: dnnl_engine_t?
        guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let engine = e else { return false }
        defer { dnnl_engine_destroy(engine) }
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        var diffWei = dnnl_memory_desc_t()
        let act: [Int64] = [1, 16, 4, 4], w: [Int64] = [16, 16, 3, 3]
        guard dnnl_memory_desc_init_by_tag(&src, 4, act, dnnl_bf16, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&wei, 4, w, dnnl_bf16, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&dst, 4, act, dnnl_bf16, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&diffWei, 4, w, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        else { return false }
        let one: [Int64] = [1, 1]
        var fwd = dnnl_convolution_desc_t()
        guard dnnl_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct,
                                                 &src, &wei, nil, &dst, one, one, one) == dnnl_success
        else { return false }
        var fwdPD: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&fwdPD, &fwd, nil, engine, nil) == dnnl_success, let hint = fwdPD
        else { return false }
        defer { dnnl_primitive_desc_destroy(hint) }
        var bwd = dnnl_convolution_desc_t()
        guard dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, &src, &diffWei, nil,
                                                          &dst, one, one, one) == dnnl_success
        else { return false }
        var bwdPD: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&bwdPD, &bwd, nil, engine, hint) == dnnl_success, let b = bwdPD
        else { return false }
        dnnl_primitive_desc_destroy(b)
        return true
    }
}
