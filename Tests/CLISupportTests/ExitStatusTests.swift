import ArgumentParser
import Checkpoint
import CLISupport
import Engine
import Imaging
import Inference
import Models
import Training
import XCTest

/// The one exit-code table of every command (README, `ExitStatus`).
final class ExitStatusTests: XCTestCase {
    func testTheTable() {
        XCTAssertEqual(ExitStatus.allCases.map(\.rawValue), [0, 1, 64])
        XCTAssertEqual(ExitStatus.success.exitCode, .success)
        XCTAssertEqual(ExitStatus.failure.exitCode, .failure)
        XCTAssertEqual(ExitStatus.usage.exitCode, .validationFailure, "ArgumentParser's exit code for usage errors")
    }

    /// Every library's typed error ends a command with `failure`.
    func testEachLibraryErrorIsAFailure() {
        let errors: [Error] = [
            CheckpointError.cannotOpen(path: "w.pth", reason: "no such file"),
            EngineError.bf16Unavailable(isa: "AVX2"),
            ModelError.unsupportedDType(key: "conv1.weight", dtype: "int64"),
            ImagingError.unknownFormat(path: "a.gif"),
            TrainingError.headOnlyNeedsWeights,
            TrainingError.cannotWrite(path: "out/m.pth", .folderMissing(folder: "out")),
            ResumeError.differentRun(resumePoint: "resNet34.resume.json", differences: [OptionDifference(option: "--lr", saved: "0.0001", given: "0.001")]),
            ImageFolder.Failure.noClasses("data"),
            ClassIndices.Failure.invalid(path: "c.json", reason: "invalid JSON"),
            IDXDataset.Failure.sizesDisagree(images: "train-images-idx3-ubyte"),
        ]
        for error in errors {
            XCTAssertEqual(ExitStatus.of(error), .failure, "\(error)")
            XCTAssertThrowsError(try reportingErrors { throw error }, "\(error)") {
                XCTAssertEqual($0 as? ExitCode, ExitCode(ExitStatus.failure.rawValue), "\(error)")
            }
        }
    }

    /// Usage errors, exit codes and clean exits reach ArgumentParser as they are.
    func testUsageAndExplicitExitsPassThrough() {
        XCTAssertEqual(ExitStatus.of(ValidationError("--top-k must be at least 1")), .usage)
        XCTAssertEqual(ExitStatus.of(ExitCode(1)), .failure)
        XCTAssertEqual(ExitStatus.of(CleanExit.helpRequest()), .success)
        XCTAssertThrowsError(try reportingErrors { throw ValidationError("bad") }) { XCTAssertTrue($0 is ValidationError) }
        XCTAssertThrowsError(try reportingErrors { throw ExitStatus.failure.exitCode }) {
            XCTAssertEqual($0 as? ExitCode, ExitCode(1))
        }
        XCTAssertNoThrow(try reportingErrors {})
        // ArgumentParser's own parse errors (an unknown option) are usage errors too.
        XCTAssertThrowsError(try ReadOptions.parse(["--bogus"])) {
            XCTAssertEqual(ReadOptions.exitCode(for: $0).rawValue, ExitStatus.usage.rawValue)
        }
    }

    /// Library messages say what to do.
    func testTrainingErrorsSayWhatToDo() {
        XCTAssertEqual("\(TrainingError.unknownArchitecture("resnet99", known: Families.variantNames))",
                       "--arch resnet99: not a torchvision model Graft knows. Use one of: " + Families.variantNames.joined(separator: ", "))
        XCTAssertEqual("\(TrainingError.cannotWrite(path: "out/m.pth", .folderMissing(folder: "out")))",
                       "cannot write out/m.pth: its folder out does not exist. Choose a writable folder (--output, --class-indices, --metrics, --report) or run finetune from one; nothing was written.")
        XCTAssertTrue("\(ResumeError.differentRun(resumePoint: "r.json", differences: []))".hasSuffix("Run without --resume to start again."))
    }
}
