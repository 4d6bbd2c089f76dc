import Engine
import XCTest

/// What `CPUCapabilities` reports about the CPU oneDNN runs on.
final class CPUCapabilitiesTests: XCTestCase {
    /// The capability check agrees with the ISA oneDNN reports.
    func testCPUCapabilitiesMatchTheISA() {
        let cpu = CPUCapabilities.current
        XCTAssertFalse(cpu.isa.isEmpty)
        XCTAssertFalse(cpu.isa.hasPrefix("cpu_isa_"))
        switch cpu.bf16 {
        case .native: XCTAssertTrue(cpu.isa.hasPrefix("avx512_core_bf16") || cpu.isa.contains("amx"), cpu.isa)
        case .emulated: XCTAssertTrue(cpu.isa.hasPrefix("avx512_core"), cpu.isa)
        case .unavailable: XCTAssertFalse(cpu.isa.hasPrefix("avx512_core"), cpu.isa)
        }
    }
}
