import ArgumentParser
import Engine
import Models

extension Precision {
    /// `--precision`'s help for every command: what bf16 is and which CPUs run it.
    public static func help(_ what: String) -> ArgumentHelp {
        let cpu = CPUCapabilities.current
        let here: String
        switch cpu.bf16 {
        case .native: here = "this CPU (oneDNN \(cpu.isa)) runs bf16 in hardware"
        case .emulated: here = "this CPU (oneDNN \(cpu.isa)) emulates bf16, slower than f32"
        case .unavailable: here = "this CPU (oneDNN \(cpu.isa)) cannot run bf16"
        }
        return ArgumentHelp(
            "f32, or bf16: \(what)",
            discussion: "bf16 needs a CPU with AVX-512. It is fast with AVX512_BF16 or AMX (Intel Cooper Lake, "
                + "Sapphire Rapids and later, AMD Zen 4 and later), emulated and slower than f32 on AVX-512 without "
                + "BF16 (Skylake to Ice Lake), and refused on AVX2 CPUs; \(here).",
            valueName: "f32|bf16")
    }

    /// predict, batch_predict and evaluate's `--precision`: f32, bf16 and int8.
    public static func inferenceHelp(_ what: String) -> ArgumentHelp {
        let bf16 = help(what)
        let cpu = CPUCapabilities.current
        return ArgumentHelp(
            "f32, bf16 or int8. bf16: \(what) int8: convs and hidden linears in int8, scaled by graft calibrate's file beside the weights.",
            discussion: (bf16.discussion ?? "") + " int8 (oneDNN's u8 x s8 kernels, s32 accumulation; the classifier stays f32, and the "
                + "first conv too with a calibration file made before Graft recorded the images' range) needs the activations' ranges: run graft calibrate --weights W --images DIR first (a refusal says so). "
                + "It needs VNNI or AMX (Intel Cascade Lake and later, AMD Zen 4 and later) and is refused without, where it is "
                + "\(Calibration.withoutVNNI); this CPU (oneDNN \(cpu.isa)) \(cpu.int8Fast ? "has it" : "has not")."
                + " Measured on a held-back set: the same top class as f32 on every image (README, \"int8\").",
            valueName: "f32|bf16|int8")
    }

    /// Refuses bf16, as a usage error before anything is read or written, on a CPU that has
    /// no bf16 kernels.
    public func validateOnThisCPU() throws {
        let cpu = CPUCapabilities.current
        if self == .bf16 && cpu.bf16 == .unavailable {
            throw ValidationError("--precision bf16 needs a CPU with AVX-512; this one runs oneDNN's \(cpu.isa) kernels, "
                + "which have no bf16. Use --precision f32.")
        }
        if self == .int8 && !cpu.int8Fast {
            throw ValidationError(QuantizationError.int8Unavailable(isa: cpu.isa).description)
        }
    }
}
