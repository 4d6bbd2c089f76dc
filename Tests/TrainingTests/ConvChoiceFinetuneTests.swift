import TestSupport
import Engine
import Foundation
import Models
import XCTest
@testable import Training

/// `--conv auto` through the finetune job: the choices reach metrics.json and the resume point,
/// and a resumed run uses them instead of measuring again.
final class ConvChoiceFinetuneTests: XCTestCase {
    func config(_ name: String, epochs: Int) throws -> TrainConfig {
        var c = FinetuneTests.config(try FinetuneTests.workdir(name), epochs: epochs)
        c.policy = .all
        c.optimizer = OptimizerConfig(kind: .adam, lr: 1e-3)
        c.conv = .auto
        return c
    }

    func testAutoRecordsItsChoicesAndResumeReusesThem() throws {
        let c = try config("conv-auto", epochs: 2)
        var lines: [String] = []
        let first = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { lines.append($0) }, warn: { _ in })
        try first.run(until: 1)
        let decisions = first.trainer.model.convolutionTuner.decisions
        XCTAssertFalse(decisions.isEmpty)
        XCTAssertEqual(lines.filter { $0.hasPrefix("--conv auto: ") }.count, decisions.values.filter { $0.directMilliseconds != nil }.count,
                       "each measured choice printed once: \(lines)")

        // metrics.json: convolution_algorithms, shape -> algorithm and times.
        let json = try ExactJSON.object(with: Data(contentsOf: URL(fileURLWithPath: c.metrics))) as? [String: Any]
        let recorded = try XCTUnwrap(json?["convolution_algorithms"] as? [String: [String: Any]])
        XCTAssertEqual(Set(recorded.keys), Set(decisions.keys))
        for (k, d) in decisions { XCTAssertEqual(recorded[k]?["algorithm"] as? String, d.algorithm.rawValue, k) }
        XCTAssertEqual((json?["config"] as? [String: Any])?["conv"] as? String, "auto")

        // The resume point holds them; the resumed run starts from them and measures nothing
        // (a new measurement would record other times).
        XCTAssertEqual(try ResumeState.read(for: c).convolutionAlgorithms, decisions)
        lines = []
        let resumed = try FinetuneJob.prepare(c, output: c.output, resume: true, log: { lines.append($0) }, warn: { _ in })
        try resumed.run()
        XCTAssertEqual(resumed.trainer.history.count, 2)
        XCTAssertEqual(resumed.trainer.model.convolutionTuner.decisions, decisions)
        XCTAssertEqual(lines.filter { $0.hasPrefix("--conv auto: ") }, [], "nothing measured again")
    }

    /// A resume point of a run made before --conv existed (no `conv` in its config) continues
    /// with direct convs, as that run computed.
    func testOlderResumePointContinuesDirect() throws {
        var c = try config("conv-old", epochs: 2)
        c.conv = nil
        let job = try FinetuneJob.prepare(c, output: c.output, resume: false, log: { _ in }, warn: { _ in })
        try job.run(until: 1)
        XCTAssertEqual(job.trainer.model.convolution, .direct)
        c.conv = .auto  // what the command gives by default
        var lines: [String] = []
        let resumed = try FinetuneJob.prepare(c, output: c.output, resume: true, log: { lines.append($0) }, warn: { _ in })
        XCTAssertEqual(resumed.trainer.model.convolution, .direct)
        XCTAssertTrue(lines.contains { $0.contains("predates --conv") }, "\(lines)")
        resumed.releaseFolders()                     // prepared, never run: it holds the folder's lock
        c.conv = .winograd
        XCTAssertThrowsError(try FinetuneJob.prepare(c, output: c.output, resume: true, log: { _ in }, warn: { _ in })) {
            guard case let .differentRun(_, differences)? = $0 as? ResumeError else { return XCTFail("\($0)") }
            XCTAssertEqual(differences.map(\.option), ["--conv"])
            XCTAssertEqual(differences.first?.given, "winograd")
        }
    }
}
