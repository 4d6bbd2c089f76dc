import ArgumentParser
import CLISupport
import FinetuneCommands
import Engine
import Models
import Training
import XCTest

/// finetune's options (`FinetuneCommandOptions`): the TrainConfig they give is the one the
/// command built from its inline options before they moved to CLISupport.
final class FinetuneOptionsTests: XCTestCase {
    func parse(_ arguments: [String]) throws -> FinetuneCommandOptions {
        try FinetuneCommandOptions.parse(arguments)
    }

    /// What `finetune --weights w.pth --classes 5 data` trains: train.py's recipe.
    func testDefaultsGiveTrainPysRecipe() throws {
        let o = try parse(["--weights", "w.pth", "--classes", "5", "data"])
        var expected = TrainConfig(data: "data", classes: 5)
        expected.weights = "w.pth"
        expected.architecture = "resnet34"
        expected.policy = .all; expected.lastStages = 1; expected.head = .replace; expected.frozenBN = .eval
        expected.epochs = 3; expected.batchSize = 16
        expected.optimizer = OptimizerConfig(kind: .adam, lr: 1e-4, weightDecay: 0, momentum: 0.9, nesterov: false)
        expected.schedule = .none; expected.stepSize = 1; expected.labelSmoothing = 0
        expected.imageSize = 224; expected.resize = 256; expected.trainCrop = 224
        expected.augment = true; expected.seed = 0; expected.workers = 2; expected.precision = "f32"
        expected.valSplit = 0.1; expected.classIndices = "class_indices.json"; expected.metrics = "metrics.json"
        expected.saveDType = "float32"
        XCTAssertEqual(o.config, expected)
        XCTAssertNil(o.output.output, "the output is named after the architecture the weights turn out to be")
        XCTAssertFalse(o.output.resume)
        XCTAssertFalse(o.read.allowObjects)
        XCTAssertNil(o.read.maxMemory)
    }

    /// Every option lands in its field; --resize and --step-size default from --image-size and --epochs.
    func testEveryOptionReachesTheConfig() throws {
        let o = try parse([
            "--weights", "none", "--arch", "resnext50_32x4d", "--classes", "10", "--image-size", "32",
            "--train", "last", "--last-stages", "2", "--head", "append", "--frozen-bn", "train",
            "--epochs", "9", "--batch-size", "4", "--lr", "0.01", "--optimizer", "sgd", "--momentum", "0.8", "--nesterov",
            "--weight-decay", "0.001", "--schedule", "step", "--label-smoothing", "0.1", "--no-augment",
            "--seed", "7", "--workers", "3", "--val-split", "0.2", "--output", "m.pth", "--save-dtype", "float16",
            "--class-indices", "ci.json", "--metrics", "fig.json", "--resume", "--allow-objects", "--max-memory", "2",
            "some/data",
        ])
        var expected = TrainConfig(data: "some/data", classes: 10)
        expected.weights = nil
        expected.architecture = "resnext50_32x4d"
        expected.policy = .last; expected.lastStages = 2; expected.head = .append; expected.frozenBN = .train
        expected.epochs = 9; expected.batchSize = 4
        expected.optimizer = OptimizerConfig(kind: .sgd, lr: 0.01, weightDecay: 0.001, momentum: 0.8, nesterov: true)
        expected.schedule = .step; expected.stepSize = 3; expected.labelSmoothing = 0.1
        expected.imageSize = 32; expected.resize = 37; expected.trainCrop = 32   // round(32 * 256 / 224); --image-size alone: both crops
        expected.augment = false; expected.seed = 7; expected.workers = 3; expected.precision = "f32"
        expected.valSplit = 0.2; expected.classIndices = "ci.json"; expected.metrics = "fig.json"
        expected.saveDType = "float16"
        XCTAssertEqual(o.config, expected)
        XCTAssertEqual(o.output.output, "m.pth")
        XCTAssertTrue(o.output.resume)
        XCTAssertTrue(o.read.allowObjects)
        XCTAssertEqual(o.read.maxMemory, 2 << 30)

        let explicit = try parse(["--weights", "w.pth", "--classes", "2", "--resize", "40", "--step-size", "5", "--epochs", "2", "d"])
        XCTAssertEqual(explicit.config.resize, 40)
        XCTAssertEqual(explicit.config.stepSize, 5)
        XCTAssertEqual(try parse(["--weights", "w.pth", "--classes", "2", "--epochs", "1", "d"]).config.stepSize, 1,
                       "a third of the epochs, at least 1")
    }

    /// `--arch` takes each of the ten torchvision variants and refuses anything else, as a
    /// usage error that lists all ten; `--help` lists them too.
    func testArchIsOneOfTheTenVariants() throws {
        XCTAssertEqual(ResNetFamily.names.count, 10)
        for name in ResNetFamily.names {
            XCTAssertEqual(try parse(["--weights", "none", "--arch", name, "--classes", "2", "d"]).config.architecture, name)
        }
        XCTAssertThrowsError(try parse(["--weights", "none", "--arch", "resnet99", "--classes", "2", "d"])) { error in
            let message = FinetuneCommandOptions.message(for: error)
            XCTAssertTrue(message.contains("--arch resnet99 is not a torchvision model Graft knows"), message)
            for name in ResNetFamily.names { XCTAssertTrue(message.contains(name), "\(name) missing from: \(message)") }
            XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
        }
        let help = FinetuneCommandOptions.helpMessage(columns: 1000)
        XCTAssertTrue(help.contains("Architecture for --weights none: " + ResNetFamily.names.joined(separator: ", ")), help)
    }

    /// The checks the command made before it read anything, each with its message, as usage errors.
    func testOutOfRangeValuesAreUsageErrors() throws {
        let base = ["--weights", "w.pth", "--classes", "3", "d"]
        let cases: [([String], String)] = [
            (["--classes", "0"], "--classes must be at least 1"),
            (["--epochs", "0"], "--epochs must be at least 1"),
            (["--batch-size", "0"], "--batch-size must be at least 1"),
            (["--last-stages", "0"], "--last-stages must be at least 1"),
            (["--image-size", "4"], "--image-size must be at least 8"),
            (["--lr", "0"], "--lr must be positive"),
            (["--label-smoothing", "1"], "--label-smoothing must be in [0, 1)"),
            (["--save-dtype", "float64"], "--save-dtype must be float32, float16 or bfloat16"),
        ]
        for (extra, expected) in cases {
            XCTAssertThrowsError(try parse(base + extra), "\(extra)") { error in
                XCTAssertTrue(FinetuneCommandOptions.message(for: error).contains(expected), FinetuneCommandOptions.message(for: error))
                XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
            }
        }
        XCTAssertThrowsError(try parse(["--classes", "3", "d"]), "--weights is required")
    }

    /// --train-crop, --val-crop and --val-resize, and how --image-size and --resize (their older
    /// names) combine with them; contradictions are usage errors that say why.
    func testCropOptionsAndTheirOlderNames() throws {
        let base = ["--weights", "w.pth", "--classes", "3", "d"]
        let cases: [([String], (train: Int, crop: Int, resize: Int))] = [
            ([], (224, 224, 256)),
            (["--train-crop", "176", "--val-crop", "224", "--val-resize", "232"], (176, 224, 232)),   // torchvision's ResNet-50 recipe
            (["--train-crop", "176"], (176, 224, 256)),
            (["--image-size", "32"], (32, 32, 37)),
            (["--image-size", "32", "--resize", "36"], (32, 32, 36)),
            (["--image-size", "40", "--train-crop", "32"], (32, 40, 46)),
            (["--val-crop", "40"], (40, 40, 46)),
            (["--val-crop", "40", "--image-size", "40", "--resize", "40", "--val-resize", "40"], (40, 40, 40)),
            (["--val-resize", "48", "--image-size", "40"], (40, 40, 48)),
            (["--train-crop", "40", "--image-size", "40", "--no-augment"], (40, 40, 46)),
        ]
        for (extra, want) in cases {
            let c = try parse(base + extra).config
            XCTAssertEqual([c.trainCrop, c.imageSize, c.resize], [want.train, want.crop, want.resize], "\(extra)")
        }
        let refused: [([String], String)] = [
            (["--image-size", "32", "--val-crop", "40"], "--image-size 32 and --val-crop 40 disagree"),
            (["--resize", "36", "--val-resize", "40"], "--resize 36 and --val-resize 40 disagree"),
            (["--train-crop", "32", "--val-crop", "40", "--no-augment"], "--train-crop 32 differs from the val crop 40, but --no-augment"),
            (["--train-crop", "4"], "--train-crop must be at least 8"),
            (["--val-crop", "4"], "--val-crop must be at least 8"),
        ]
        for (extra, expected) in refused {
            XCTAssertThrowsError(try parse(base + extra), "\(extra)") { error in
                XCTAssertTrue(FinetuneCommandOptions.message(for: error).contains(expected), FinetuneCommandOptions.message(for: error))
                XCTAssertEqual(FinetuneCommandOptions.exitCode(for: error).rawValue, ExitStatus.usage.rawValue)
            }
        }
        let help = FinetuneCommandOptions.helpMessage(columns: 1000)
        for option in ["--train-crop", "--val-crop", "--val-resize", "--image-size", "--resize"] { XCTAssertTrue(help.contains(option), option) }
    }

    /// report.html: beside --metrics by default, where --report says, none with --no-report.
    func testReportOptions() throws {
        XCTAssertEqual(try parse(["--weights", "w.pth", "--classes", "2", "d"]).output.reportWriter(metrics: "metrics.json")?.path, "report.html")
        XCTAssertEqual(try parse(["--weights", "w.pth", "--classes", "2", "--metrics", "runs/a/m.json", "d"]).output
            .reportWriter(metrics: "runs/a/m.json")?.path, "runs/a/report.html")
        XCTAssertEqual(try parse(["--weights", "w.pth", "--classes", "2", "--report", "x/r.html", "d"]).output
            .reportWriter(metrics: "metrics.json")?.path, "x/r.html")
        XCTAssertNil(try parse(["--weights", "w.pth", "--classes", "2", "--no-report", "d"]).output.reportWriter(metrics: "metrics.json"))
        XCTAssertThrowsError(try parse(["--weights", "w.pth", "--classes", "2", "--no-report", "--report", "r.html", "d"]))
        XCTAssertEqual(try parse(["--weights", "w.pth", "--classes", "2", "--no-report", "d"]).config,
                       try parse(["--weights", "w.pth", "--classes", "2", "d"]).config, "the report is not part of the run's config")
    }
}

extension FinetuneOptionsTests {
    func testConvChoiceDefaultsToAutoAndReachesTheConfig() throws {
        let base = ["--weights", "w.pth", "--classes", "5", "data"]
        XCTAssertEqual(try parse(base).config.conv, .auto)
        for choice in ConvolutionChoice.allCases {
            XCTAssertEqual(try parse(base + ["--conv", choice.rawValue]).config.conv, choice)
        }
        XCTAssertThrowsError(try parse(base + ["--conv", "fast"])) { error in
            let message = FinetuneCommandOptions.message(for: error)
            XCTAssertTrue(message.contains("auto") && message.contains("winograd"), message)
        }
    }

    func testWinogradWithBF16IsRefusedWithTheReason() throws {
        let args = ["--weights", "w.pth", "--classes", "5", "--precision", "bf16", "--conv", "winograd", "data"]
        XCTAssertThrowsError(try parse(args)) { error in
            let message = FinetuneCommandOptions.message(for: error)
            // Without bf16 kernels the precision is refused first.
            let expected = CPUCapabilities.current.bf16 == .unavailable ? "bf16" : "--conv winograd is f32-only"
            XCTAssertTrue(message.contains(expected), message)
        }
        XCTAssertNoThrow(try parse(["--weights", "w.pth", "--classes", "5", "--conv", "winograd", "data"]))
    }
}
