import XCTest
@testable import CLISupport
@testable import FinetuneCommands
@testable import Training

/// `--mixup-alpha`, `--cutmix-alpha` and `--ema-decay`: parsed into the config, refused with a
/// clear message when out of range, and explained in --help.
final class MixingAndAverageOptionsTests: XCTestCase {
    let base = ["--weights", "w.pth", "--classes", "3", "d"]

    func testParsedIntoTheConfig() throws {
        let c = try FinetuneCommandOptions.parse(base + ["--mixup-alpha", "0.2", "--cutmix-alpha", "1", "--ema-decay", "0.999"]).config
        XCTAssertEqual(c.mixupAlpha, 0.2)
        XCTAssertEqual(c.cutmixAlpha, 1.0)
        XCTAssertEqual(c.emaDecay, 0.999)
        let off = try FinetuneCommandOptions.parse(base + ["--mixup-alpha", "0", "--cutmix-alpha", "0"]).config
        XCTAssertNil(off.mixupAlpha, "0 is off")
        XCTAssertNil(off.cutmixAlpha, "0 is off")
        XCTAssertNil(try FinetuneCommandOptions.parse(base + ["--ema-decay", "0"]).config.emaDecay, "0 is off")
    }

    func testOutOfRangeIsAUsageError() {
        for (args, text) in [(["--mixup-alpha=-0.5"], "--mixup-alpha must be 0 (off) or a positive number"),
                             (["--cutmix-alpha", "nan"], "--cutmix-alpha must be 0 (off) or a positive number"),
                             (["--cutmix-alpha", "inf"], "--cutmix-alpha must be 0 (off) or a positive number"),
                             (["--ema-decay", "1"], "--ema-decay must be from 0 (no average) to below 1"),
                             (["--ema-decay=-0.5"], "--ema-decay must be from 0 (no average) to below 1"),
                             (["--ema-decay", "nan"], "--ema-decay must be from 0 (no average) to below 1")] {
            XCTAssertThrowsError(try FinetuneCommandOptions.parse(base + args), "\(args)") { error in
                let message = FinetuneCommandOptions.message(for: error)
                XCTAssertTrue(message.contains(text), message)
                XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
            }
        }
    }

    func testHelpExplainsThem() {
        let help = FinetuneCommandOptions.helpMessage(columns: 1000)
        for text in ["--mixup-alpha <A>", "transforms.v2.MixUp", "--cutmix-alpha <A>", "transforms.v2.CutMix", "features are then not cached",
                     "--ema-decay <D>", "timm's --model-ema", "one more copy of the trained parameters"] {
            XCTAssertTrue(help.contains(text), text)
        }
    }
}
