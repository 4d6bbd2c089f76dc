import Engine
import XCTest

/// Skips the calling test, with the reason, on a CPU where oneDNN has no bf16 kernels (AVX2
/// and older, or any CPU under `ONEDNN_MAX_CPU_ISA=AVX2`). The one place tests ask this.
public func skipUnlessBF16() throws {
    let cpu = CPUCapabilities.current
    if cpu.bf16 == .unavailable {
        throw XCTSkip("bf16 needs AVX-512; oneDNN runs this CPU's \(cpu.isa) kernels, which have no bf16")
    }
}
