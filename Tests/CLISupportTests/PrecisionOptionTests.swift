import ArgumentParser
import CLISupport
import Engine
import Models
import XCTest

/// `--precision bf16` is a usage error where the CPU has no bf16 kernels (the AVX2 pass of
/// `make test`), and accepted where it has them.
final class PrecisionOptionTests: XCTestCase {
    func testBF16IsRefusedInValidationWhereTheCPUHasNone() throws {
        let cpu = CPUCapabilities.current
        if cpu.bf16 == .unavailable {
            XCTAssertThrowsError(try ModelOptions.parse(["--precision", "bf16"])) { error in
                let message = ModelOptions.message(for: error)
                XCTAssertTrue(message.contains("--precision bf16 needs a CPU with AVX-512"), message)
                XCTAssertTrue(message.contains("Use --precision f32"), message)
                XCTAssertTrue(message.contains(cpu.isa), message)
            }
        } else {
            XCTAssertEqual(try ModelOptions.parse(["--precision", "bf16"]).precision, .bf16)
        }
        XCTAssertEqual(try ModelOptions.parse(["--precision", "f32"]).precision, .f32)
    }

    /// The help says which CPUs run bf16 and what this one does.
    func testHelpNamesTheCPUsThatRunBF16() {
        let help = ModelOptions.helpMessage(columns: 200)
        for words in ["AVX-512", "AVX512_BF16", "AMX", "refused on AVX2", CPUCapabilities.current.isa] {
            XCTAssertTrue(help.contains(words), "help lacks '\(words)': \(help)")
        }
    }
}
