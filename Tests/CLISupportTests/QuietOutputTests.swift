import CLISupport
import FinetuneCommands
import Engine
import Foundation
import TestSupport
import XCTest

/// What the commands print by default and with `--verbose`: `--conv auto`'s choices are one
/// summary line per epoch that decided any (each shape's line only with `--verbose`), and
/// predict's note of the sizes read from metrics.json only with `--verbose`.
final class QuietOutputTests: XCTestCase {
    typealias Decision = ConvolutionTuner.Decision

    func testSummaryCountsTimedShapesAndTheTimeSaved() {
        let d = [Decision(algorithm: .winograd, directMilliseconds: 10, winogradMilliseconds: 4, cached: false),
                 Decision(algorithm: .winograd, directMilliseconds: 6, winogradMilliseconds: 3, cached: false),
                 Decision(algorithm: .direct, directMilliseconds: 4, winogradMilliseconds: 9, cached: false),
                 Decision(algorithm: .direct)]   // decided by rule (mpirun's eval shapes): not timed, not counted
        // Direct 10 + 6 + 4 = 20 ms; chosen 4 + 3 + 4 = 11 ms: 45 % less.
        XCTAssertEqual(ConvolutionSummary.line(d), "--conv auto: winograd on 2 of 3 conv shapes, 45 % less conv time")
    }

    func testSummaryWhenDirectWinsEverywhereOrNothingWasTimed() {
        let direct = [Decision(algorithm: .direct, directMilliseconds: 1, winogradMilliseconds: 2, cached: false),
                      Decision(algorithm: .direct, directMilliseconds: 1, winogradMilliseconds: 0.95, cached: false)]
        XCTAssertEqual(ConvolutionSummary.line(direct), "--conv auto: direct on all 2 conv shapes (winograd was not 10 % faster on any)")
        XCTAssertNil(ConvolutionSummary.line([]))
        XCTAssertNil(ConvolutionSummary.line([Decision(algorithm: .winograd)]), "given back by --resume: nothing measured, nothing to say")
    }

    func testSummarySaysWhenTheTimesCameFromTheCache() {
        let cached = [Decision(algorithm: .winograd, directMilliseconds: 2, winogradMilliseconds: 1, cached: true)]
        XCTAssertEqual(ConvolutionSummary.line(cached),
                       "--conv auto: winograd on 1 of 1 conv shape, 50 % less conv time; times from an earlier run on this machine")
        let mixed = cached + [Decision(algorithm: .direct, directMilliseconds: 2, winogradMilliseconds: 3, cached: false)]
        XCTAssertEqual(ConvolutionSummary.line(mixed),
                       "--conv auto: winograd on 1 of 2 conv shapes, 25 % less conv time; 1 timed by an earlier run on this machine")
    }

    @discardableResult
    func finetune(_ args: [String], in dir: URL) throws -> ProcessRun.Result {
        let r = try ProcessRun.run(try ProcessRun.executable("finetune"),
                                   ["--weights", FixturePaths.path("predict/basic.pth"), "--classes", "3", "--image-size", "32",
                                    "--resize", "32", "--epochs", "2", "--workers", "1", "--conv", "auto"] + args + [FixturePaths.path("trainset")],
                                   currentDirectory: dir)
        XCTAssertFalse(r.timedOut, r.stderr)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r
    }

    /// The conv choices metrics.json recorded, and how many of them were timed.
    func timedDecisions(in dir: URL) throws -> Int {
        let json = try ExactJSON.object(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as? [String: Any]
        let decisions = try XCTUnwrap(json?["convolution_algorithms"] as? [String: [String: Any]])
        XCTAssertFalse(decisions.isEmpty)
        return decisions.values.filter { $0["direct_milliseconds"] != nil }.count
    }

    func testFinetunePrintsOneConvLineByDefaultAndEachShapeWithVerbose() throws {
        let quiet = try scratchFolder("quiet", "default")
        let r = try finetune([], in: quiet)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let conv = lines.filter { $0.hasPrefix("--conv auto: ") }
        XCTAssertEqual(conv.count, 1, "one summary line: \(r.stdout)")
        XCTAssertTrue(conv[0].hasPrefix("--conv auto: winograd on ") || conv[0].hasPrefix("--conv auto: direct on all "), conv[0])
        XCTAssertTrue(conv[0].contains("\(try timedDecisions(in: quiet)) conv shapes"), "\(conv[0]) counts every timed shape")
        // The summary comes before the first epoch's figures, and the whole run fits on a screen.
        let first = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("[epoch 1]") })
        XCTAssertEqual(lines[first - 1], conv[0])
        XCTAssertLessThanOrEqual(lines.count, 12, r.stdout)

        let verbose = try scratchFolder("quiet", "verbose")
        let v = try finetune(["--verbose"], in: verbose)
        let shapes = v.stdout.split(separator: "\n").filter { $0.hasPrefix("--conv auto: conv ") }
        XCTAssertEqual(shapes.count, try timedDecisions(in: verbose), "each timed shape once: \(v.stdout)")
        XCTAssertEqual(v.stdout.split(separator: "\n").filter { $0.hasPrefix("--conv auto: winograd on ") || $0.hasPrefix("--conv auto: direct on all ") }.count, 1,
                       "and the summary: \(v.stdout)")
    }

    func testPredictNamesTheSizesFromMetricsJSONOnlyWithVerbose() throws {
        let dir = try scratchFolder("quiet", "predict")
        try finetune(["--no-report"], in: dir)
        let image = FixturePaths.path("trainset/val/daisy/" + (try FileManager.default.contentsOfDirectory(atPath: FixturePaths.path("trainset/val/daisy")).sorted()[0]))
        let exe = try ProcessRun.executable("predict")
        let quiet = try ProcessRun.run(exe, [image], currentDirectory: dir)
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertEqual(quiet.stderr, "", "nothing on standard error by default")
        XCTAssertTrue(quiet.stdout.contains("class: daisy"), quiet.stdout)
        let verbose = try ProcessRun.run(exe, ["--verbose", image], currentDirectory: dir)
        XCTAssertEqual(verbose.status, 0, verbose.stderr)
        XCTAssertTrue(verbose.stderr.contains("predict: using --image-size 32 --resize 32, what metrics.json says"), verbose.stderr)
        XCTAssertEqual(verbose.stdout, quiet.stdout, "--verbose changes only standard error")
    }
}
