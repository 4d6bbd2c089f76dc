import Checkpoint
import Engine
import Foundation
@testable import Models
import TestSupport
import XCTest

/// `convolution` (`finetune --conv`): Winograd trains as direct does, to rounding; `.auto`
/// measures each 3x3 stride-1 shape once, records the choice and runs it; bf16 stays direct.
final class ConvolutionChoiceTests: XCTestCase {
    /// After `steps` SGD steps (lr 0.05, the basic fixture's batch), the losses and every
    /// parameter of a Winograd run stay within this of a direct run's (max-norm relative).
    /// Measured on AVX-512 (oneDNN 2.6): losses 6e-8, worst weight 2.5e-7 (fc.weight); a wrong
    /// transform or a gradient of the wrong conv moves the loss at the first step by far more.
    static let tolerance = 1e-5
    static let steps = 4

    func model(_ choice: ConvolutionChoice, precision: Precision = .f32) throws -> (Network, TrainingFixture) {
        let fixture = try TrainingFixture("basic")
        let m = try Network(stateDict: fixture.stateDict, head: .replace(numClasses: fixture.meta.classes), seed: 42,
                                 precision: precision)
        m.freeze(.none)
        m.frozenBN = .train
        m.convolution = choice
        return (m, fixture)
    }

    /// `steps` steps of plain SGD; the losses.
    func train(_ m: Network, _ f: TrainingFixture, steps: Int = ConvolutionChoiceTests.steps) throws -> [Float] {
        try (0..<steps).map { _ in
            let (loss, _) = try f.input.withUnsafeBufferPointer {
                try m.trainStep(images: $0, labels: f.meta.labels, batch: f.meta.batch, height: f.meta.height, width: f.meta.width)
            }
            for p in m.parameters where p.trainable {
                for i in 0..<p.count { p.value[i] -= 0.05 * p.grad[i] }
            }
            return loss
        }
    }

    /// The algorithm each 3x3 stride-1 conv ran at the last forward.
    func algorithms(_ m: Network) -> [ConvolutionAlgorithm] {
        m.convolutions.filter { $0.winogradApplies }.compactMap { $0.lastAlgorithm }
    }

    /// oneDNN's Winograd on AVX-512, Graft's own on AVX2 (`make test`'s second pass).
    func testWinogradTrainsAsDirectDoesToRounding() throws {
        let (d, f) = try model(.direct), (w, _) = try model(.winograd)
        let direct = try train(d, f), winograd = try train(w, f)
        XCTAssertTrue(algorithms(d).allSatisfy { $0 == .direct })
        XCTAssertTrue(algorithms(w).allSatisfy { $0 == .winograd }, "\(algorithms(w))")
        let lossErr = relativeError(winograd, direct)
        XCTAssertLessThanOrEqual(lossErr, Self.tolerance, "losses \(winograd) vs \(direct)")
        XCTAssertGreaterThan(direct.first! - direct.last!, 0.05, "the steps learn something: \(direct)")
        var worst = 0.0, worstName = ""
        XCTAssertEqual(w.parameters.count, d.parameters.count)
        for (a, b) in zip(w.parameters, d.parameters) {
            let e = relativeError(Array(a.value), Array(b.value))
            if e > worst { worst = e; worstName = a.name }
            XCTAssertLessThanOrEqual(e, Self.tolerance, a.name)
        }
        XCTAssertGreaterThan(worst, 0, "Winograd rounds differently: some weight must differ in the last bits")
        print(String(format: "[conv] winograd vs direct after %d steps: losses rel %.2e, worst weight rel %.2e (%@)",
                     Self.steps, lossErr, worst, worstName))
    }

    func testAutoMeasuresEachShapeOnceRecordsAndRunsItsChoice() throws {
        let (m, f) = try model(.auto)
        var lines: [String] = []
        m.convolutionTuner.log = { lines.append($0) }
        _ = try train(m, f, steps: 2)
        let decisions = m.convolutionTuner.decisions
        // basic: 3x3 stride-1 convs in every stage (input dims differ per stage): one decision each.
        let shapes = Set(m.convolutions.filter { $0.winogradApplies }.compactMap { u in
            decisions.keys.first { $0.hasPrefix("\(u.inChannels)->\(u.outChannels) 3x3 stride 1") }
        })
        XCTAssertEqual(decisions.count, shapes.count, "one decision per shape: \(decisions.keys.sorted())")
        XCTAssertGreaterThanOrEqual(decisions.count, 4, "\(decisions.keys.sorted())")
        XCTAssertTrue(decisions.keys.allSatisfy { $0.hasSuffix(" train") && $0.contains(" on \(f.meta.batch)x") }, "\(decisions.keys)")
        // Each conv ran what was decided for its shape.
        for u in m.convolutions where u.winogradApplies {
            let key = try XCTUnwrap(decisions.keys.first { $0.hasPrefix("\(u.inChannels)->\(u.outChannels) 3x3 stride 1") })
            XCTAssertEqual(u.lastAlgorithm, decisions[key]?.algorithm, u.weight.name)
        }
        // Winograd exists for every f32 3x3 stride-1 shape on every CPU (oneDNN's or Graft's own).
        let measured = decisions.values.filter { $0.directMilliseconds != nil }
        XCTAssertEqual(measured.count, decisions.count, "every shape timed")
        XCTAssertEqual(lines.count, decisions.count, "one line per measured shape: \(lines)")
        for d in measured {
            // The record keeps times to 0.01 ms; the choice was made on the unrounded ones.
            let (dt, wt) = (d.directMilliseconds!, d.winogradMilliseconds!)
            guard abs(wt - ConvolutionTuner.margin * dt) > 0.02 else { continue }
            XCTAssertEqual(d.algorithm, wt < ConvolutionTuner.margin * dt ? .winograd : .direct, "\(d)")
        }
    }

    /// Recorded decisions are used as they are: nothing is measured again, and each conv runs
    /// the recorded algorithm even where a measurement would choose the other.
    func testRecordedDecisionsAreReusedWithoutMeasuring() throws {
        let (m, f) = try model(.auto)
        _ = try train(m, f, steps: 1)
        // The opposite of every choice, given back as an earlier run's record.
        var flipped = m.convolutionTuner.decisions
        for (k, d) in flipped { flipped[k] = ConvolutionTuner.Decision(algorithm: d.algorithm == .direct ? .winograd : .direct) }
        let (again, _) = try model(.auto)
        again.convolutionTuner = ConvolutionTuner(decisions: flipped)
        var lines: [String] = []
        again.convolutionTuner.log = { lines.append($0) }
        _ = try train(again, f, steps: 1)
        XCTAssertEqual(again.convolutionTuner.decisions, flipped)
        XCTAssertEqual(lines, [], "nothing measured")
        for u in again.convolutions where u.winogradApplies {
            let key = try XCTUnwrap(flipped.keys.first { $0.hasPrefix("\(u.inChannels)->\(u.outChannels) 3x3 stride 1") })
            XCTAssertEqual(u.lastAlgorithm, flipped[key]?.algorithm, u.weight.name)
        }
    }

    func testBF16StaysDirectUnderAuto() throws {
        try skipUnlessBF16()
        let (m, f) = try model(.auto, precision: .bf16)
        _ = try train(m, f, steps: 1)
        XCTAssertEqual(m.convolutionTuner.decisions, [:], "nothing to choose in bf16")
        XCTAssertFalse(algorithms(m).contains(.winograd))
        XCTAssertTrue(m.convolutions.allSatisfy { $0.lastAlgorithm == .direct })
    }
}
