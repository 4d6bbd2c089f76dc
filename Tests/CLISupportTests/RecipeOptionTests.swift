import ArgumentParser
import Foundation
import FinetuneCommands
import TestSupport
import Training
import XCTest

/// `--recipe`: each preset sets its options where the command line gives none, and every option
/// given overrides it (aliases included); a whole run with each records it.
final class RecipeOptionTests: XCTestCase {
    func config(_ extra: [String]) throws -> TrainConfig {
        let args = ["--weights", "w.pth", "--classes", "5"] + extra + ["data"]
        return try FinetuneCommandOptions.parse(args).config(given: args)
    }

    func testOptionNamesIncludeAliasesAndStopAtDoubleDash() {
        XCTAssertEqual(Recipe.optionNames(in: ["--lr=0.1", "--image-size", "64", "--resize", "72", "x", "--", "--epochs"]),
                       ["--lr", "--val-crop", "--val-resize"])
    }

    func testFastaiSetsItsOptionsAndExplicitOnesWin() throws {
        let c = try config(["--recipe", "fastai", "--epochs", "4"])
        XCTAssertEqual(c.recipe, .fastai)
        XCTAssertEqual(c.optimizer.kind, .adamw)
        XCTAssertEqual(c.optimizer.weightDecay, 0.01)
        XCTAssertEqual(c.optimizer.lr, 2e-3)
        XCTAssertEqual(c.schedule, .onecycle)
        XCTAssertEqual(c.headEpochs, 1)
        XCTAssertEqual(c.lrSlice!, 2e-5, accuracy: 1e-18)
        XCTAssertEqual(c.augmentation?.rotation, 10)
        XCTAssertEqual(c.augmentation?.colorJitter, [0.2, 0.2])
        // Explicit options override, and what depends on them follows (slice(lr / 100, lr)).
        let d = try config(["--recipe", "fastai", "--epochs", "4", "--lr=0.01", "--optimizer", "sgd", "--head-epochs", "2", "--rotation", "5"])
        XCTAssertEqual(d.optimizer.lr, 0.01)
        XCTAssertEqual(d.optimizer.kind, .sgd)
        XCTAssertEqual(d.headEpochs, 2)
        XCTAssertEqual(d.lrSlice!, 1e-4, accuracy: 1e-18)
        XCTAssertEqual(d.augmentation?.rotation, 5)
        // --warmup-epochs given: the cosine, not one-cycle (which warms up itself).
        XCTAssertEqual(try config(["--recipe", "fastai", "--warmup-epochs", "1"]).schedule, .cosine)
        // --train fc: no second phase and no trunk rates; --no-augment: no augmentation.
        let fc = try config(["--recipe", "fastai", "--train", "fc", "--no-augment"])
        XCTAssertEqual(fc.headEpochs, 0)
        XCTAssertNil(fc.lrSlice)
        XCTAssertNil(fc.augmentation)
        // One epoch: nothing left for a second phase.
        XCTAssertEqual(try config(["--recipe", "fastai", "--epochs", "1"]).headEpochs, 0)
    }

    func testTorchvisionScalesItsCropsAndRateAndTutorialIsTheDefaults() throws {
        let c = try config(["--recipe", "torchvision", "--image-size", "64", "--batch-size", "32", "--epochs", "20"])
        XCTAssertEqual(c.optimizer.kind, .sgd)
        XCTAssertEqual(c.optimizer.lr, 0.5 * 32 / 1024)
        XCTAssertEqual(c.schedule, .cosine)
        XCTAssertEqual(c.warmupEpochs, 2)
        XCTAssertEqual(c.labelSmoothing, 0.1)
        XCTAssertEqual(c.mixupAlpha, 0.2)
        XCTAssertEqual(c.cutmixAlpha, 1.0)
        XCTAssertEqual(c.emaDecay, 0.998)
        XCTAssertEqual(c.augmentation?.autoAugment, .taWide)
        XCTAssertEqual(c.augmentation?.randomErase, 0.1)
        XCTAssertEqual(c.trainCrop, 50)        // 64 x 176 / 224
        XCTAssertEqual(c.resize, 66)           // 64 x 232 / 224
        XCTAssertEqual(c.imageSize, 64)
        let given = try config(["--recipe", "torchvision", "--train-crop", "48", "--resize", "80", "--mixup-alpha", "0"])
        XCTAssertEqual(given.trainCrop, 48)
        XCTAssertEqual(given.resize, 80)
        XCTAssertNil(given.mixupAlpha)
        // Every part of a preset can be switched off: 0 or none is off, given, so the preset leaves it.
        let off = try config(["--recipe", "torchvision", "--auto-augment", "none", "--random-erase", "0", "--ema-decay", "0",
                              "--cutmix-alpha", "0", "--label-smoothing", "0", "--warmup-epochs", "0"])
        XCTAssertNil(off.augmentation)
        XCTAssertNil(off.emaDecay)
        XCTAssertNil(off.cutmixAlpha)
        XCTAssertEqual(off.labelSmoothing, 0)
        XCTAssertEqual(off.warmupEpochs, 0)
        XCTAssertEqual(off.mixupAlpha, 0.2, "what is not switched off stays the preset's")
        let fastaiOff = try config(["--recipe", "fastai", "--rotation", "0", "--color-jitter", "0", "--head-epochs", "0"])
        XCTAssertNil(fastaiOff.augmentation)
        XCTAssertEqual(fastaiOff.headEpochs, 0)
        // tutorial is what no recipe trains, recorded.
        var tutorial = try config(["--recipe", "tutorial"])
        XCTAssertEqual(tutorial.recipe, .tutorial)
        tutorial.recipe = nil
        XCTAssertEqual(tutorial, try config([]))
    }

    func testEachRecipeRunsAWholeFinetuneAndIsRecorded() throws {
        for recipe in Recipe.allCases {
            let dir = try scratchFolder("recipe", recipe.rawValue)
            let out = try finetuneOnTrainset(0, ["--classes", "3", "--image-size", "32", "--resize", "36", "--epochs", "2", "--batch-size", "8",
                                                 "--workers", "1", "--recipe", recipe.rawValue], in: dir)
            XCTAssertTrue(out.contains("Finished Training"), out)
            let metrics = try String(contentsOf: dir.appendingPathComponent("metrics.json"), encoding: .utf8)
            XCTAssertTrue(metrics.contains("\"recipe\" : \"\(recipe.rawValue)\""), metrics)
            let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
            XCTAssertTrue(html.contains("--recipe \(recipe.rawValue)"))
        }
    }
}
