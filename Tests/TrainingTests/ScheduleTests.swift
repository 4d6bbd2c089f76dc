import Foundation
import TestSupport
import XCTest
@testable import Training

/// `--schedule` and `--warmup-epochs`: every step's learning rate against torch's
/// lr_scheduler, as Fixtures/gen_schedules.py recorded them (within 1e-6 relative).
final class ScheduleTests: XCTestCase {
    struct Case: Decodable {
        let lr: Double
        let epochs: Int
        let stepsPerEpoch: Int
        let warmupEpochs: Double
        let warmupSteps: Int
        let schedule: String
        let stepSize: Int
        let plateauPatience: Int
        let valLosses: [Double]?
        let lrs: [Double]
    }

    static let names = ["warmup_cosine", "warmup_cosine_half", "cosine", "warmup_none", "onecycle", "onecycle_short", "step",
                        "warmup_step", "plateau", "warmup_plateau", "plateau_tiny"]

    static func load(_ name: String) throws -> Case {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Case.self, from: Data(contentsOf: FixturePaths.url("schedules/\(name).json")))
    }

    static func scheduler(_ c: Case) throws -> LRScheduler {
        let schedule = try XCTUnwrap(LRSchedule(rawValue: c.schedule))
        return LRScheduler(schedule: schedule, base: c.lr, epochs: c.epochs, stepsPerEpoch: c.stepsPerEpoch,
                           warmupEpochs: c.warmupEpochs, stepSize: c.stepSize, plateauPatience: c.plateauPatience)
    }

    /// Graft's rates for the case's run: `from` epochs on, continuing `s` (each epoch's
    /// val loss fed to the plateau after it).
    static func rates(_ c: Case, _ s: inout LRScheduler, from: Int = 0, until: Int? = nil) -> [Double] {
        var out: [Double] = []
        for epoch in from..<(until ?? c.epochs) {
            for b in 0..<c.stepsPerEpoch { out.append(s.lr(epoch: epoch, batch: b)) }
            s.endEpoch(epoch, valLoss: c.valLosses?[epoch] ?? 0)
        }
        return out
    }

    static func assertClose(_ graft: [Double], _ torch: [Double], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(graft.count, torch.count, name, file: file, line: line)
        for (i, (g, t)) in zip(graft, torch).enumerated() where !(abs(g - t) <= 1e-6 * abs(t)) {
            XCTFail("\(name): step \(i): Graft's lr \(g), torch's \(t)", file: file, line: line)
            return
        }
    }

    func testEveryStepsRateIsTorchs() throws {
        for name in Self.names {
            let c = try Self.load(name)
            var s = try Self.scheduler(c)
            XCTAssertEqual(s.warmupSteps, c.warmupSteps, "\(name): round(warmup epochs x steps per epoch), half to even")
            Self.assertClose(Self.rates(c, &s), c.lrs, name)
        }
    }

    /// The comparison can fail: a warmup one step longer than torch's, a plateau one epoch
    /// more patient, or a one-cycle one step longer, are all told apart from torch's rates.
    func testAnOffByOneScheduleDiffers() throws {
        func differs(_ name: String, _ change: (Case) -> LRScheduler) throws {
            let c = try Self.load(name)
            var s = change(c)
            let graft = Self.rates(c, &s)
            XCTAssertTrue(zip(graft, c.lrs).contains { !(abs($0 - $1) <= 1e-6 * abs($1)) }, name)
        }
        try differs("warmup_cosine") { c in   // 10 warmup steps instead of 9
            LRScheduler(schedule: .cosine, base: c.lr, epochs: c.epochs, stepsPerEpoch: c.stepsPerEpoch,
                        warmupEpochs: (Double(c.warmupSteps) + 1) / Double(c.stepsPerEpoch))
        }
        try differs("warmup_none") { c in
            LRScheduler(schedule: .none, base: c.lr, epochs: c.epochs, stepsPerEpoch: c.stepsPerEpoch,
                        warmupEpochs: (Double(c.warmupSteps) - 1) / Double(c.stepsPerEpoch))
        }
        try differs("plateau") { c in
            LRScheduler(schedule: .plateau, base: c.lr, epochs: c.epochs, stepsPerEpoch: c.stepsPerEpoch, plateauPatience: c.plateauPatience + 1)
        }
        try differs("onecycle") { c in
            LRScheduler(schedule: .onecycle, base: c.lr, epochs: c.epochs, stepsPerEpoch: c.stepsPerEpoch + 1)
        }
    }

    /// A schedule continued from its state after any epoch (what a resume point holds, through
    /// JSON) gives the rates of one that never stopped.
    func testAContinuedScheduleGivesTheUninterruptedRates() throws {
        for name in Self.names {
            let c = try Self.load(name)
            for stop in 1..<c.epochs {
                var first = try Self.scheduler(c)
                var rates = Self.rates(c, &first, until: stop)
                let saved = try JSONDecoder().decode(ScheduleState.self, from: JSONEncoder().encode(first.state))
                XCTAssertEqual(saved.steps, stop * c.stepsPerEpoch)
                var second = try Self.scheduler(c)
                second.state = saved
                rates += Self.rates(c, &second, from: stop)
                Self.assertClose(rates, c.lrs, "\(name) resumed after epoch \(stop)")
            }
        }
    }
}
