import XCTest
@testable import CLISupport
@testable import FinetuneCommands
@testable import Training

/// finetune's gradient options: `--clip-grad-norm` and `--accumulate`, parsed into the config, refused when it is
/// not a positive number, and listed in --help.
final class GradientOptionsTests: XCTestCase {
    let base = ["--weights", "w.pth", "--classes", "3", "d"]

    func testClipGradNorm() throws {
        XCTAssertNil(try FinetuneCommandOptions.parse(base).config.clipGradNorm, "no clipping by default")
        XCTAssertEqual(try FinetuneCommandOptions.parse(base + ["--clip-grad-norm", "1.5"]).config.clipGradNorm, 1.5)
        for bad in ["0", "-1", "inf", "nan"] {
            XCTAssertThrowsError(try FinetuneCommandOptions.parse(base + ["--clip-grad-norm=" + bad]), bad) { error in
                let message = FinetuneCommandOptions.message(for: error)
                XCTAssertTrue(message.contains("--clip-grad-norm must be a positive number"), message)
                XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
            }
        }
        let help = FinetuneCommandOptions.helpMessage(columns: 1000)
        XCTAssertTrue(help.contains("--clip-grad-norm <MAX>") && help.contains("torch.nn.utils.clip_grad_norm_"), help)
    }

    func testAccumulate() throws {
        XCTAssertEqual(try FinetuneCommandOptions.parse(base).config.accumulate, 1, "a step every batch by default")
        XCTAssertEqual(try FinetuneCommandOptions.parse(base + ["--accumulate", "4"]).config.accumulate, 4)
        XCTAssertThrowsError(try FinetuneCommandOptions.parse(base + ["--accumulate", "0"])) { error in
            let message = FinetuneCommandOptions.message(for: error)
            XCTAssertTrue(message.contains("--accumulate must be at least 1"), message)
            XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
        }
        XCTAssertTrue(FinetuneCommandOptions.helpMessage(columns: 1000).contains("--accumulate <N>"))
    }
}
