import ArgumentParser
import CLISupport
import FinetuneCommands
import Imaging
import Training
import XCTest

/// finetune's augmentation options (issue 24): --auto-augment ta_wide|ra|imagenet (and
/// 'trivial'), --ra-magnitude, --ra-num-ops, --color-jitter B[,C,S,H], --rotation DEG,
/// --random-erase P: parsed into TrainConfig.augmentation, validated with one clear line.
final class AugmentationOptionsTests: XCTestCase {
    let base = ["--weights", "w.pth", "--classes", "5", "data"]

    func config(_ extra: [String]) throws -> TrainConfig { try FinetuneCommandOptions.parse(base + extra).config }

    func testOptionsReachTheConfig() throws {
        XCTAssertNil(try config([]).augmentation, "none asked for: as before")
        XCTAssertEqual(try config(["--auto-augment", "ta_wide"]).augmentation, Augmentation(autoAugment: .taWide))
        XCTAssertEqual(try config(["--auto-augment", "trivial"]).augmentation, Augmentation(autoAugment: .taWide))
        XCTAssertEqual(try config(["--auto-augment", "imagenet"]).augmentation, Augmentation(autoAugment: .imagenet))
        XCTAssertEqual(try config(["--auto-augment", "ra"]).augmentation, Augmentation(autoAugment: .ra, raMagnitude: 9, raNumOps: 2))
        XCTAssertEqual(try config(["--auto-augment", "ra", "--ra-magnitude", "30", "--ra-num-ops", "3"]).augmentation,
                       Augmentation(autoAugment: .ra, raMagnitude: 30, raNumOps: 3))
        XCTAssertEqual(try config(["--color-jitter", "0.4"]).augmentation, Augmentation(colorJitter: [0.4]))
        XCTAssertEqual(try config(["--color-jitter", "0.4,0.3,0.2,0.1"]).augmentation, Augmentation(colorJitter: [0.4, 0.3, 0.2, 0.1]))
        XCTAssertEqual(try config(["--rotation", "15"]).augmentation, Augmentation(rotation: 15))
        XCTAssertEqual(try config(["--random-erase", "0.25"]).augmentation, Augmentation(randomErase: 0.25))
        let all = try config(["--auto-augment", "ra", "--color-jitter", "0.2,0.2", "--rotation", "5", "--random-erase", "0.1"])
        XCTAssertEqual(all.augmentation, Augmentation(autoAugment: .ra, colorJitter: [0.2, 0.2], rotation: 5, randomErase: 0.1))
        XCTAssertEqual(try all.augmentation?.jitter(), try ColorJitter(brightness: 0.2, contrast: 0.2))
    }

    func testBadValuesAreRefused() {
        let refused: [([String], String)] = [
            (["--auto-augment", "cifar10"], "--auto-augment cifar10: not a policy; use ta_wide"),
            (["--ra-magnitude", "5"], "give them with --auto-augment ra"),
            (["--auto-augment", "ta_wide", "--ra-num-ops", "3"], "give them with --auto-augment ra"),
            (["--auto-augment", "ra", "--ra-magnitude", "31"], "--ra-magnitude must be in 0...30"),
            (["--auto-augment", "ra", "--ra-num-ops", "0"], "--ra-num-ops must be in 1...16"),
            (["--color-jitter", "0.4,x"], "--color-jitter 0.4,x: give 1 to 4 numbers"),
            (["--color-jitter", "0.1,0.1,0.1,0.1,0.1"], "--color-jitter takes 1 to 4 numbers"),
            (["--color-jitter=-0.1"], "--color-jitter's values must be non-negative"),
            (["--color-jitter", "0,0,0,0.7"], "--color-jitter's hue must be at most 0.5"),
            (["--rotation=-5"], "--rotation must be in (0, 180] degrees (0: none)"),
            (["--random-erase", "1.5"], "--random-erase must be a probability in (0, 1]"),
            (["--auto-augment", "ta_wide", "--no-augment"], "--no-augment trains on the validation transform"),
            (["--random-erase", "0.5", "--no-augment"], "--no-augment trains on the validation transform"),
        ]
        for (extra, expected) in refused {
            XCTAssertThrowsError(try FinetuneCommandOptions.parse(base + extra), "\(extra)") { error in
                XCTAssertTrue(FinetuneCommandOptions.message(for: error).contains(expected), "\(extra): " + FinetuneCommandOptions.message(for: error))
                XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
            }
        }
    }

    func testHelpNamesEveryOption() {
        let help = FinetuneCommandOptions.helpMessage(columns: 1000)
        for option in ["--auto-augment <ta_wide|ra|imagenet|none>", "--ra-magnitude", "--ra-num-ops", "--color-jitter <B[,C,S,H]>",
                       "--rotation <DEG>", "--random-erase <P>", "TrivialAugmentWide", "RandAugment", "AutoAugment"] {
            XCTAssertTrue(help.contains(option), option)
        }
    }
}
