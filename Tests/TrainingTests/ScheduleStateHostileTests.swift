import Foundation
import XCTest
@testable import Training

/// The schedule's state in a resume point (`resNet18.resume.json`) is a file anyone may have
/// edited: values finetune never writes are refused when it is read (the resume point is then
/// "not a resume point finetune wrote"), never turned into a NaN rate or an overflow trap
/// (a steps-per-epoch of Int.max made the warmup's Double-to-Int conversion trap).
final class ScheduleStateHostileTests: XCTestCase {
    func decode(_ json: String) throws -> ScheduleState {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(ScheduleState.self, from: Data(json.utf8))
    }

    func testWhatFinetuneWritesReadsBack() throws {
        var s = ScheduleState(stepsPerEpoch: 4)
        s.steps = 12; s.plateauBest = 0.31; s.plateauBadEpochs = 1; s.plateauScale = 0.01
        let back = try JSONDecoder().decode(ScheduleState.self, from: JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
        XCTAssertEqual(try decode(#"{"stepsPerEpoch": 3}"#), ScheduleState(stepsPerEpoch: 3), "older fields default")
        // A state as hostile files set it, then a schedule laid out from it: every rate finite.
        var sched = LRScheduler(schedule: .cosine, base: 0.1, epochs: 3, stepsPerEpoch: 1, warmupEpochs: 0.5)
        sched.state = try decode(#"{"stepsPerEpoch": 100000000, "steps": 0}"#)
        XCTAssertTrue(sched.lr(epoch: 2, batch: 5).isFinite)
    }

    func testValuesFinetuneNeverWritesAreRefused() {
        for json in [#"{"stepsPerEpoch": 0}"#, #"{"stepsPerEpoch": -4}"#, #"{"stepsPerEpoch": 9223372036854775807}"#,
                     #"{"stepsPerEpoch": 4, "steps": -1}"#, #"{"stepsPerEpoch": 4, "steps": 9223372036854775807}"#,
                     #"{"stepsPerEpoch": 4, "plateauBest": "NaN"}"#, #"{"stepsPerEpoch": 4, "plateauBest": "Infinity"}"#,
                     #"{"stepsPerEpoch": 4, "plateauBadEpochs": -2}"#, #"{"stepsPerEpoch": 4, "plateauScale": "NaN"}"#,
                     #"{"stepsPerEpoch": 4, "plateauScale": 0}"#, #"{"stepsPerEpoch": 4, "plateauScale": 2}"#,
                     #"{"stepsPerEpoch": 4, "plateauScale": -0.5}"#, #"{"steps": 4}"#, #"{"stepsPerEpoch": "four"}"#] {
            XCTAssertThrowsError(try decode(json), json)
        }
    }
}
